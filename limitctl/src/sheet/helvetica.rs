//! Advance widths of the base-14 Helvetica font (Adobe's AFM, in 1/1000 em) for the
//! printable ASCII range, so the PDF and SVG sheets can centre and wrap text without
//! embedding a font.

const WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0..9
    278, 278, 584, 584, 584, 556, 1015, // :..@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, // A..M
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N..Z
    278, 278, 278, 469, 556, 333, // [..`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, // a..m
    556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // n..z
    334, 260, 334, 584, // {..~
];

/// The width of `text` at `size` (any unit: the result is in the same unit). Characters
/// outside printable ASCII are drawn as `?` (see [`printable`]) and measured so.
pub fn text_width(text: &str, size: f64) -> f64 {
    let units: u32 = text
        .chars()
        .map(|c| {
            let index = if (' '..='~').contains(&c) {
                c as usize - 32
            } else {
                '?' as usize - 32
            };
            u32::from(WIDTHS[index])
        })
        .sum();
    f64::from(units) * size / 1000.0
}

/// `text` with every character outside printable ASCII replaced by `?`: the sheets use
/// Helvetica's standard encoding and the 8×8 bitmap font, both ASCII.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_match_the_afm() {
        assert_eq!(text_width(" ", 1000.0), 278.0);
        assert_eq!(text_width("0", 1000.0), 556.0);
        assert_eq!(text_width("W", 1000.0), 944.0);
        assert_eq!(text_width("i", 1000.0), 222.0);
        assert_eq!(text_width("~", 1000.0), 584.0);
        assert_eq!(text_width("é", 1000.0), text_width("?", 1000.0));
        assert_eq!(printable("a…b"), "a?b");
    }
}
