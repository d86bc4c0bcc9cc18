//! The embedded report font and its registration with plotters.
//!
//! plotters is built without font-kit (which would need fontconfig and system fonts), so
//! text only renders once a font has been registered by family name; drawing text in an
//! unregistered family panics inside plotters. DejaVu Sans (regular and bold, Bitstream
//! Vera licence, text in `assets/fonts/LICENSE-DejaVu.txt`) is compiled into the binary
//! and registered once, under every family name plotters or this module could ask for.

use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

use super::ReportError;

/// The family every text style in the report names.
pub(crate) const FAMILY: &str = "sans-serif";

/// DejaVu Sans regular, embedded so reports render on machines with no fonts at all.
static REGULAR_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// DejaVu Sans bold, for headings and the verdict.
static BOLD_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Family names registered. plotters' own defaults (axis labels, legends) ask for
/// "sans-serif"; "serif" and "monospace" are mapped to the same face so a style that
/// names them by accident still renders instead of panicking.
const FAMILIES: [&str; 3] = [FAMILY, "serif", "monospace"];

/// Registers the embedded font with plotters, once per process. Every public drawing
/// function calls this first, so callers never have to.
pub(crate) fn ensure_fonts() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        FAMILIES.iter().all(|family| {
            // Italic and oblique fall back to the normal face inside plotters.
            register_font(family, FontStyle::Normal, REGULAR_TTF).is_ok()
                && register_font(family, FontStyle::Bold, BOLD_TTF).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err(ReportError::Font)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_fonts_register() {
        assert!(ensure_fonts().is_ok());
    }
}
