//! Rendering the interactive mode with ratatui: a title bar with the
//! connection state, the lists pane, the items pane, and a bottom line that
//! is either the open prompt or the last message plus key hints.

use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, List, ListItem, ListState, Paragraph, Row, Table, TableState, Wrap,
};
use ratatui::Frame;

use super::state::{App, Focus, Net};

const HINTS: &str = "n new · a add · + one more · b buy · B buy n · x remove · r rename · s share · J join · Tab switch · ? help · q quit";

const HELP: &str = "\
Lists pane (left) and items pane (right); Tab / ← → switch, ↑ ↓ / j k move.

  n   new list               J   join a list by URL
  a   add an item (\"milk 2\" adds two)
  +   need one more of the selected item
  b   bought all still needed     B   bought a given quantity
  x   remove the selected item
  r   rename the list        s   show the list's share URL
  q   quit (Esc also)

Edits are saved at once and work offline; they are pushed to the cloud in
the background, and others' edits appear here as they happen.

Press any key to close this help.";

fn border(focused: bool) -> Style {
    if focused {
        Style::default().fg(Color::Cyan)
    } else {
        Style::default()
    }
}

/// Draw the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(2),
        ])
        .split(f.area());
    draw_title(f, app, rows[0]);
    let panes = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(35), Constraint::Percentage(65)])
        .split(rows[1]);
    draw_lists(f, app, panes[0]);
    draw_items(f, app, panes[1]);
    draw_bottom(f, app, rows[2]);
    if app.help {
        draw_help(f, rows[1]);
    }
}

fn draw_title(f: &mut Frame, app: &App, area: Rect) {
    let (label, color) = match app.net {
        Net::Connecting => ("connecting…", Color::Yellow),
        Net::Online => ("● online", Color::Green),
        Net::Offline => ("○ offline (edits stay local)", Color::Red),
    };
    let pending: usize = app.lists.iter().map(|l| l.pending).sum();
    let mut spans = vec![
        Span::styled("shoplist", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {}  ", app.author)),
        Span::styled(label, Style::default().fg(color)),
    ];
    if pending > 0 {
        spans.push(Span::raw(format!("  · {pending} unsynced edit(s)")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_lists(f: &mut Frame, app: &App, area: Rect) {
    let items: Vec<ListItem> = app
        .lists
        .iter()
        .map(|l| {
            let sync = if l.pending > 0 { " *" } else { "" };
            ListItem::new(format!("{} ({}/{}){sync}", l.name, l.done, l.items))
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Lists ")
        .border_style(border(app.focus == Focus::Lists));
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

fn draw_items(f: &mut Frame, app: &App, area: Rect) {
    let title = match &app.current {
        Some(c) if c.other_names.is_empty() => format!(" {} ", c.name),
        Some(c) => format!(" {} (also: {}) ", c.name, c.other_names.join(", ")),
        None => " Items ".to_string(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(border(app.focus == Focus::Items));
    let rows: Vec<Row> = app
        .current
        .iter()
        .flat_map(|c| c.items.iter())
        .map(|i| {
            let mark = if i.done { "✓" } else { " " };
            let style = if i.done {
                Style::default().fg(Color::DarkGray)
            } else {
                Style::default()
            };
            Row::new(vec![
                Cell::from(mark),
                Cell::from(i.name.clone()),
                Cell::from(format!("{}/{}", i.acquired, i.needed)),
                Cell::from(i.added_by.clone()),
            ])
            .style(style)
        })
        .collect();
    let empty = rows.is_empty();
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
        Row::new(vec!["", "item", "bought", "added by"])
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
        state.select(Some(app.item_sel));
    }
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_bottom(f: &mut Frame, app: &App, area: Rect) {
    let first = match &app.prompt {
        Some((kind, input)) => Line::from(vec![
            Span::styled(
                format!("{}: ", kind.label()),
                Style::default().fg(Color::Cyan),
            ),
            Span::raw(input.clone()),
            Span::styled("█", Style::default().fg(Color::Cyan)),
            Span::styled(
                "   (Enter to confirm, Esc to cancel)",
                Style::default().fg(Color::DarkGray),
            ),
        ]),
        None => Line::from(app.message.clone()),
    };
    let hints = Line::styled(HINTS, Style::default().fg(Color::DarkGray));
    f.render_widget(Paragraph::new(vec![first, hints]), area);
}

fn draw_help(f: &mut Frame, area: Rect) {
    let w = area.width.clamp(20, 80);
    let h = area.height.clamp(5, 18);
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
