//! The live page: one self-contained HTML file (inline CSS and JavaScript, nothing fetched but
//! its own `/events` feed), styled with `report.html`'s stylesheet and drawing its charts as SVG
//! the way `report.html` draws them: one chart per figure, one colour per transport in run order.
//!
//! The page keeps every event it got: a transport that finished stays on it, and when the run
//! ends (the feed closes) the last figures stay too.

use crate::report::html::STYLE;

/// The page, as served.
pub fn html() -> String {
    include_str!("page.html").replace("/*REPORT_CSS*/", STYLE)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_fetches_nothing_but_its_feed() {
        let page = super::html();
        assert!(page.contains("new EventSource(\"/events\")"));
        for outside in [
            "http://",
            "https://",
            "<script src",
            "<link rel=\"stylesheet\"",
            "@import",
        ] {
            let hits: Vec<&str> = page
                .lines()
                .filter(|l| l.contains(outside) && !l.contains("www.w3.org/2000/svg"))
                .collect();
            assert!(hits.is_empty(), "{outside}: {hits:?}");
        }
        assert!(page.contains("svg.chart"), "report.html's stylesheet");
    }
}
