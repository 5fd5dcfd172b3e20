//! Column specifications (`id << 4 | type`) of the operation columns of a
//! change chunk, as written by automerge 0.12 (`change_op_columns.rs`).

/// Object id, actor index (RLE, nullable).
pub const OBJ_ACTOR: u32 = 0x01;
/// Object id, counter (RLE, nullable).
pub const OBJ_CTR: u32 = 0x02;
/// Key element id, actor index (RLE, nullable).
pub const KEY_ACTOR: u32 = 0x11;
/// Key element id, counter (delta, nullable).
pub const KEY_CTR: u32 = 0x13;
/// Map key (RLE of strings, nullable).
pub const KEY_STR: u32 = 0x15;
/// Insert flag (boolean).
pub const INSERT: u32 = 0x34;
/// Action (RLE of integers); its row count is the operation count.
pub const ACTION: u32 = 0x42;
/// Value metadata (RLE of `len << 4 | type`).
pub const VAL_META: u32 = 0x56;
/// Raw value bytes.
pub const VAL_RAW: u32 = 0x57;
/// Predecessor group: number of predecessors per operation (RLE).
pub const PRED_GROUP: u32 = 0x70;
/// Predecessor actor index (RLE), one row per predecessor.
pub const PRED_ACTOR: u32 = 0x71;
/// Predecessor counter (delta), one row per predecessor.
pub const PRED_CTR: u32 = 0x73;
/// Mark expand flag (boolean, optional).
pub const EXPAND: u32 = 0x94;
/// Mark name (RLE of strings, optional).
pub const MARK_NAME: u32 = 0xa5;

/// Every column accepted, in the (strictly increasing) order required.
pub const KNOWN: [u32; 14] = [
    OBJ_ACTOR, OBJ_CTR, KEY_ACTOR, KEY_CTR, KEY_STR, INSERT, ACTION, VAL_META, VAL_RAW, PRED_GROUP,
    PRED_ACTOR, PRED_CTR, EXPAND, MARK_NAME,
];

/// Bit 3 of a column specification: the column data is deflated.
pub const DEFLATE_BIT: u32 = 0x08;

/// Human-readable name of a known column.
pub fn name(spec: u32) -> &'static str {
    match spec {
        OBJ_ACTOR => "obj actor",
        OBJ_CTR => "obj counter",
        KEY_ACTOR => "key actor",
        KEY_CTR => "key counter",
        KEY_STR => "key string",
        INSERT => "insert",
        ACTION => "action",
        VAL_META => "value metadata",
        VAL_RAW => "value raw",
        PRED_GROUP => "pred group",
        PRED_ACTOR => "pred actor",
        PRED_CTR => "pred counter",
        EXPAND => "expand",
        MARK_NAME => "mark name",
        _ => "unknown",
    }
}
