//! The page frame (header, navigation, sign-out form) and small shared pieces. Every
//! value goes through maud, which escapes it; nothing here builds HTML by hand.

use maud::{html, Markup, DOCTYPE};

use crate::service::Actor;
use crate::time::UnixTime;

/// The stylesheet at `/static/console.css` (the CSP allows styles from us only).
pub const STYLESHEET: &str = include_str!("console.css");

/// Who is looking at a page, and the token their forms carry.
#[derive(Debug)]
pub struct Viewer<'a> {
    pub actor: &'a Actor,
    pub csrf: &'a str,
}

/// A whole page for a signed-in viewer.
pub fn page(viewer: &Viewer<'_>, title: &str, body: Markup) -> String {
    frame(
        title,
        html! {
            header {
                span.brand { "Sluice treasury" }
                nav {
                    a href="/" { "Dashboard" }
                    a href="/withdrawals" { "Withdrawals" }
                    a href="/proposals" { "Proposals" }
                    a href="/deposits" { "Deposits" }
                    a href="/audit" { "Audit log" }
                    a href="/staff" { "Staff" }
                }
                form.signout method="post" action="/sign-out" {
                    (csrf_field(viewer.csrf))
                    span.who { (viewer.actor.name()) " (" (viewer.actor.role().as_str()) ")" }
                    button type="submit" { "Sign out" }
                }
            }
            main {
                h1 { (title) }
                (body)
            }
        },
    )
}

/// A page without navigation (sign-in, enrollment, errors before sign-in).
pub fn bare_page(title: &str, body: Markup) -> String {
    frame(
        title,
        html! {
            header { span.brand { "Sluice treasury" } }
            main.narrow { h1 { (title) } (body) }
        },
    )
}

fn frame(title: &str, content: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Sluice" }
                link rel="stylesheet" href="/static/console.css";
                // No favicon request (it would be a 404 on every page).
                link rel="icon" href="data:,";
            }
            body { (content) }
        }
    }
    .into_string()
}

/// The hidden field every form of a session carries (`csrf`).
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A refusal or failure, shown above a page's content.
pub fn alert(message: &str) -> Markup {
    html! { p.alert role="alert" { (message) } }
}

pub fn notice(message: &str) -> Markup {
    html! { p.notice role="status" { (message) } }
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn when(secs: i64) -> String {
    UnixTime::from_secs(secs).to_string()
}

/// Satoshis with thousands separators and the BTC value.
pub fn sats(amount: bitcoin::Amount) -> String {
    let digits = amount.to_sat().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped} sat ({} BTC)", amount.to_btc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let out = bare_page("<script>x</script>", alert("\"><img src=x onerror=1>"));
        assert!(!out.contains("<script>x"));
        assert!(out.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!out.contains("<img src=x"));
        assert_eq!(
            sats(bitcoin::Amount::from_sat(1_234_567)),
            "1,234,567 sat (0.01234567 BTC)"
        );
        assert_eq!(sats(bitcoin::Amount::from_sat(12)), "12 sat (0.00000012 BTC)");
    }
}
