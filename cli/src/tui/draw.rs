//! Rendering the interactive mode with ratatui: a title bar with the
//! connection state, the lists pane, the items pane (the shopping view:
//! still needed first by category, bought items sinking, who bought what),
//! and a bottom line that is either the open prompt or the last message
//! plus key hints. With `NO_COLOR` set, only bold / reverse / dim are used.

use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, List, ListItem, ListState, Paragraph, Row, Table, TableState, Wrap,
};
use ratatui::Frame;

use super::state::{App, Focus, ItemRow, Net};
use crate::output::text::truncate;

const HINTS: &str = "? help · q quit · Tab pane · a add · b buy · B buy n · U un-buy · + more · x remove · u undo · H hide bought · n new list · s share";

const HELP: &str = "\
Lists pane (left) and items pane (right); Tab / ← → switch, ↑ ↓ / j k move.

  a   add an item: \"milk x2\" adds two, \"milk #dairy\" files it under dairy
  b   bought all still needed     B   bought a given quantity
  U   un-buy (it was not bought after all)
  +   need one more               x   remove (asks first)
  u   undo this device's last edit on the list (again: the one before)
  H   hide / show bought items
  n   new list   r rename   D delete from this device (asks)   A archive
  s   show the share URL          J   join a list by URL
  q   quit (Esc only cancels)

Item keys act on the highlighted item, and only while the items pane has
the focus. Edits are saved at once and work offline; they are pushed to the
cloud in the background, and others' edits appear here as they happen.

Press any key to close this help.";

/// Colours, or none (`NO_COLOR`).
#[derive(Debug, Clone, Copy)]
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    fn dim(self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    fn border(self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => Style::default().fg(Color::Cyan),
            (true, false) => Style::default().add_modifier(Modifier::BOLD),
            _ => Style::default(),
        }
    }
}

/// Draw the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let theme = Theme { color: app.color };
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(2),
        ])
        .split(f.area());
    draw_title(f, app, theme, rows[0]);
    let panes = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(30), Constraint::Percentage(70)])
        .split(rows[1]);
    draw_lists(f, app, theme, panes[0]);
    draw_items(f, app, theme, panes[1]);
    draw_bottom(f, app, theme, rows[2]);
    if app.help {
        draw_help(f, rows[1]);
    }
}

fn draw_title(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let (label, color) = match app.net {
        Net::Connecting => ("connecting…", Color::Yellow),
        Net::Online => ("● online", Color::Green),
        Net::Offline => ("○ offline (edits stay local)", Color::Red),
    };
    let pending: usize = app.lists.iter().map(|l| l.pending).sum();
    let mut spans = vec![
        Span::styled("shoplist", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {}  ", app.author)),
        Span::styled(label, theme.fg(color)),
    ];
    if pending > 0 {
        spans.push(Span::raw(format!("  · {pending} unsynced edit(s)")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_lists(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let name_cols = usize::from(area.width.saturating_sub(14)).max(6);
    let items: Vec<ListItem> = app
        .lists
        .iter()
        .map(|l| {
            let sync = if l.pending > 0 { " *" } else { "" };
            let text = format!(
                "{} ({}/{}){sync}",
                truncate(&l.name, name_cols),
                l.done,
                l.items
            );
            if l.archived {
                ListItem::new(format!("{text} archived")).style(theme.dim())
            } else {
                ListItem::new(text)
            }
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Lists ")
        .border_style(theme.border(app.focus == Focus::Lists));
    let list = if items.is_empty() {
        List::new(vec![ListItem::new("(none: n creates one)")]).block(block)
    } else {
        List::new(items)
            .block(block)
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
            .highlight_symbol("> ")
    };
    let mut state = ListState::default();
    if !app.lists.is_empty() {
        state.select(Some(app.list_sel));
    }
    f.render_stateful_widget(list, area, &mut state);
}

fn draw_items(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let title = match &app.current {
        Some(c) if c.other_names.is_empty() => format!(" {} ", c.name),
        Some(c) => format!(" {} (also: {}) ", c.name, c.other_names.join(", ")),
        None => " Items ".to_string(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(theme.border(app.focus == Focus::Items));
    let name_cols = usize::from(area.width.saturating_sub(30)).max(8);
    let mut selected_row = None;
    let mut item_no = 0;
    let rows: Vec<Row> = app
        .rows
        .iter()
        .enumerate()
        .map(|(n, r)| match r {
            ItemRow::Heading(h) => Row::new(vec![
                Cell::from(""),
                Cell::from(h.clone()).style(Style::default().add_modifier(Modifier::BOLD)),
            ]),
            ItemRow::Item(i) => {
                if item_no == app.item_sel {
                    selected_row = Some(n);
                }
                item_no += 1;
                let mark = if i.done { "✓" } else { " " };
                let style = if i.done {
                    theme.dim()
                } else {
                    Style::default()
                };
                let name = match &i.note {
                    Some(note) => format!("{} · {note}", i.name),
                    None => i.name.clone(),
                };
                let who = if i.bought_by.is_empty() {
                    format!("+{}", i.added_by)
                } else {
                    format!("✓{}", i.bought_by.join(","))
                };
                Row::new(vec![
                    Cell::from(mark),
                    Cell::from(truncate(&name, name_cols)),
                    Cell::from(format!("{}/{}", i.acquired, i.needed)),
                    Cell::from(truncate(&who, 12)),
                ])
                .style(style)
            }
        })
        .collect();
    let empty = app.rows.is_empty();
    let mut rows = rows;
    if empty && app.current.as_ref().is_some_and(|c| !c.items.is_empty()) {
        rows.push(Row::new(vec![
            Cell::from(""),
            Cell::from("(everything is bought; H shows it)").style(theme.dim()),
        ]));
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Min(10),
            Constraint::Length(9),
            Constraint::Length(12),
        ],
    )
    .header(
        Row::new(vec!["", "item", "bought", "who"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(block)
    .highlight_symbol("> ")
    .row_highlight_style(if app.focus == Focus::Items {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default().add_modifier(Modifier::UNDERLINED)
    });
    let mut state = TableState::default();
    if !empty {
        state.select(selected_row);
    }
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_bottom(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let first = match &app.prompt {
        Some((kind, input)) if kind.is_confirmation() => Line::from(vec![Span::styled(
            kind.label(),
            theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )]),
        Some((kind, input)) => Line::from(vec![
            Span::styled(format!("{}: ", kind.label()), theme.fg(Color::Cyan)),
            Span::raw(input.clone()),
            Span::styled("█", theme.fg(Color::Cyan)),
            Span::styled("   (Enter confirms, Esc cancels)", theme.dim()),
            Span::styled(
                if app.message.starts_with("error") {
                    format!("   {}", app.message)
                } else {
                    String::new()
                },
                theme.fg(Color::Red),
            ),
        ]),
        None => Line::from(app.message.clone()),
    };
    let hints = Line::styled(HINTS, theme.dim());
    f.render_widget(Paragraph::new(vec![first, hints]), area);
}

fn draw_help(f: &mut Frame, area: Rect) {
    let w = area.width.clamp(20, 80);
    let h = area.height.clamp(5, 20);
    let popup = Rect {
        x: area.x + area.width.saturating_sub(w) / 2,
        y: area.y + area.height.saturating_sub(h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(HELP)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Help ")),
        popup,
    );
}
