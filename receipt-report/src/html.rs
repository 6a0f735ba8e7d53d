//! The page frame and the only ways input text reaches it: escaping for HTML text and
//! attribute values, a constant stylesheet and script pinned by hash in the page's
//! Content-Security-Policy, and the number formats every view shares.
//!
//! No input string ever enters the script or the stylesheet: the script reads what it needs
//! from the DOM (`textContent`, numeric `data-*` attributes the report wrote itself), so the
//! only escaping contexts are HTML text and double-quoted attribute values.

use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};

/// Most characters of one input string shown; longer ones are cut with `…`, so a hostile
/// input cannot make the page large.
pub const MAX_TEXT_CHARS: usize = 1_000;

/// Escapes `s` for HTML text and for a double-quoted attribute value: `& < > " '` become
/// character references, and control characters other than tab and newline (which HTML
/// forbids) become U+FFFD, so hostile input is always shown as text. At most
/// [`MAX_TEXT_CHARS`] characters are shown.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    esc_into(&mut out, s);
    out
}

/// [`esc`], appending to `out`.
pub fn esc_into(out: &mut String, s: &str) {
    for (i, c) in s.chars().enumerate() {
        if i == MAX_TEXT_CHARS {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// At most `max` characters of `s`, with `…` when cut (labels drawn in a fixed width).
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The stylesheet of every report.
const STYLE: &str = r#"
:root{--fg:#1d2330;--mute:#5d6678;--line:#d8dce4;--bg:#fbfcfd;--pass:#1a7f37;--warn:#9a6700;--fail:#cf222e;--unk:#8250df;--acc:#0969da}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{padding:14px 24px;border-bottom:1px solid var(--line);background:#fff}
header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;color:var(--mute)}
main{padding:8px 24px 40px}
section{margin:18px 0}
h2{font-size:16px;margin:0 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
table{border-collapse:collapse;font-size:13px}
th,td{text-align:left;padding:3px 10px 3px 0;vertical-align:top;white-space:nowrap}
th{color:var(--mute);font-weight:600}
td.num,th.num{text-align:right}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.mute{color:var(--mute)}
.scroll{overflow:auto;max-height:760px;border:1px solid var(--line);background:#fff}
.v{font-weight:700;font-family:ui-monospace,monospace;padding:0 6px;border-radius:3px;color:#fff}
.v-PASS{background:var(--pass)}.v-WARN{background:var(--warn)}.v-FAIL{background:var(--fail)}.v-UNKNOWN{background:var(--unk)}
.st-success,.st-ok{color:var(--pass)}.st-failed,.st-err,.st-panic,.st-panicked{color:var(--fail)}.st-not-run{color:var(--mute)}
.summary{display:flex;gap:22px;flex-wrap:wrap}
.summary div{min-width:120px}
.summary b{display:block;font-size:18px}
svg text{font:11px ui-monospace,monospace;fill:var(--fg)}
svg.graph .n rect{fill:#fff;stroke:#8c96a8}
svg.graph .n.m rect{fill:#ddf4ff;stroke:var(--acc);stroke-width:2}
svg.graph .n.x rect{fill:#f3f4f6;stroke:#c4c9d2;stroke-dasharray:3 2}
svg.graph .n.f rect{fill:#fff8c5;stroke:var(--warn)}
svg.graph .n:hover rect,svg.graph .n.hl rect{stroke:var(--fail);stroke-width:2}
svg.graph path{fill:none;stroke:#9aa3b2;stroke-width:1;opacity:.7}
svg.graph path.r{stroke:var(--fail);stroke-dasharray:4 3}
svg.graph path.hl{stroke:var(--fail);stroke-width:2;opacity:1}
svg.graph .arrow{fill:#9aa3b2}
svg.flame rect{stroke:#fff;stroke-width:.5}
svg.flame rect.c0{fill:#7aa6da}svg.flame rect.c1{fill:#e6a35c}svg.flame rect.c2{fill:#8cc084}svg.flame rect.c3{fill:#d98a9c}svg.flame rect.c4{fill:#a78bd1}svg.flame rect.c5{fill:#5fb3b3}svg.flame rect.c6{fill:#d1b45a}svg.flame rect.c7{fill:#9aa5b1}svg.flame rect.c8{fill:#c98e6b}svg.flame rect.c9{fill:#6f9fd8}svg.flame rect.c10{fill:#b5c96a}svg.flame rect.c11{fill:#cf7fb8}
svg.flame rect.e{fill:var(--fail)}
svg.flame rect.b{fill-opacity:.45;stroke:none}
svg.flame .axis{stroke:var(--line)}
svg.flame text.t{fill:var(--mute)}
svg.tl circle.st-success{fill:var(--pass)}svg.tl circle.st-failed{fill:var(--fail)}svg.tl circle{fill:var(--mute)}
svg.tl polyline{fill:none;stroke:var(--acc)}
#info{position:sticky;top:0;min-height:20px;padding:2px 0;background:var(--bg);font-family:ui-monospace,monospace;font-size:12px}
"#;

/// The script of every report: highlights a hovered graph node's edges, shows the hovered
/// element's title in `#info`, and marks the page as loaded (`data-ready` on the root
/// element), which the browser tests check.
const SCRIPT: &str = r#"
(function () {
  "use strict";
  var d = document, info = d.getElementById("info");
  function title(el) {
    var t = el && el.querySelector(":scope > title");
    return t ? t.textContent : "";
  }
  function mark(g, on) {
    var i = g.getAttribute("data-i");
    if (i === null) { return; }
    var svg = g.ownerSVGElement;
    svg.querySelectorAll('path[data-a="' + i + '"],path[data-b="' + i + '"]').forEach(function (p) {
      p.classList.toggle("hl", on);
    });
  }
  d.querySelectorAll("svg.graph").forEach(function (svg) {
    svg.addEventListener("mouseover", function (ev) {
      var g = ev.target.closest("g.n");
      if (g) { mark(g, true); if (info) { info.textContent = title(g); } }
    });
    svg.addEventListener("mouseout", function (ev) {
      var g = ev.target.closest("g.n");
      if (g) { mark(g, false); }
    });
  });
  d.querySelectorAll("svg.flame").forEach(function (svg) {
    svg.addEventListener("mouseover", function (ev) {
      var r = ev.target.closest("rect");
      if (r && info) { info.textContent = title(r); }
    });
  });
  d.documentElement.setAttribute("data-ready", "1");
})();
"#;

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(A[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn csp_hash(text: &str) -> String {
    format!("'sha256-{}'", base64(&Sha256::digest(text.as_bytes())))
}

/// The page's Content-Security-Policy: nothing may load from anywhere; only the one inline
/// stylesheet and the one inline script, identified by their SHA-256, may apply or run.
pub fn csp() -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src 'none'; base-uri 'none'; form-action 'none'",
        csp_hash(SCRIPT),
        csp_hash(STYLE)
    )
}

/// Wraps a report body into the complete, self-contained document.
pub fn page(title: &str, subtitle: &str, body: &str) -> String {
    let mut s = String::with_capacity(body.len() + STYLE.len() + SCRIPT.len() + 1024);
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        s,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
        esc(&csp())
    );
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(s, "<title>{}</title>", esc(title));
    let _ = writeln!(s, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(
        s,
        "<header><h1>{}</h1><p>{}</p></header>\n<main>\n<div id=\"info\"></div>",
        esc(title),
        esc(subtitle)
    );
    s.push_str(body);
    let _ = writeln!(s, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>");
    s
}

/// A byte count for people: `512 B`, `3.4 KiB`, `1.2 MiB`, `5.0 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// A duration in nanoseconds for people: `850 ns`, `12.3 µs`, `4.56 ms`, `1.234 s`.
pub fn duration_ns(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", f / 1e6)
    } else {
        format!("{:.3} s", f / 1e9)
    }
}

/// An integer with thin groups of three digits: `1 234 567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

/// A verification report as a table: one row per check, its verdict coloured.
pub fn checks_table(report: &receipt_primitives::check::Report) -> String {
    let mut s = String::new();
    let ok = report.ok();
    let _ = writeln!(
        s,
        "<p class=\"verdict\" data-ok=\"{ok}\"><span class=\"v v-{v}\">{v}</span> verification {}</p>",
        if ok { "passed" } else { "FAILED" },
        v = if ok { "PASS" } else { "FAIL" },
    );
    s.push_str(
        "<table class=\"checks\"><tr><th>verdict</th><th>check</th><th>detail</th><th>file</th></tr>\n",
    );
    for c in &report.checks {
        let _ = writeln!(
            s,
            "<tr class=\"check\"><td><span class=\"v v-{v}\">{v}</span></td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
            c.id.as_str(),
            esc(&c.detail),
            esc(c.file.as_deref().unwrap_or("")),
            v = c.verdict.as_str(),
        );
    }
    s.push_str("</table>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        let hostile = "</script><script>alert(1)</script>\"' onload=x &amp;\u{0}\u{7}";
        let e = esc(hostile);
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
        assert_eq!(
            e,
            "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39; onload=x &amp;amp;\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn long_input_is_cut() {
        let long = "<".repeat(5_000);
        let e = esc(&long);
        assert_eq!(e.matches("&lt;").count(), MAX_TEXT_CHARS);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn the_policy_pins_exactly_the_page_script_and_style() {
        let p = page("t", "s", "<p>body</p>");
        let policy = csp();
        assert!(policy.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(!policy.contains("unsafe"));
        assert!(p.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(p.contains(&format!("<style>{STYLE}</style>")));
        assert_eq!(p.matches("<script").count(), 1);
    }

    #[test]
    fn number_formats() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 + 512), "3.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(duration_ns(850), "850 ns");
        assert_eq!(duration_ns(12_345), "12.3 µs");
        assert_eq!(duration_ns(4_560_000), "4.56 ms");
        assert_eq!(duration_ns(1_234_000_000), "1.234 s");
        assert_eq!(count(1_234_567), "1\u{2009}234\u{2009}567");
        assert_eq!(count(12), "12");
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("abc", 3), "abc");
    }
}
