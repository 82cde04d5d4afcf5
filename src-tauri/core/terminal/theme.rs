//! The colours the terminal answers colour queries with (OSC 4/10/11/12). The renderer draws
//! with the same theme, so a program that asks "what is the background?" gets what is shown.

use alacritty_terminal::vte::ansi::{NamedColor, Rgb};

/// A terminal colour theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Default text colour.
    pub foreground: Rgb,
    /// Default background.
    pub background: Rgb,
    /// Cursor colour.
    pub cursor: Rgb,
    /// The 16 ANSI colours (normal 0–7, bright 8–15).
    pub ansi: [Rgb; 16],
}

const fn rgb(hex: u32) -> Rgb {
    Rgb {
        r: (hex >> 16) as u8,
        g: (hex >> 8) as u8,
        b: hex as u8,
    }
}

impl Theme {
    /// The dark theme (the app's dark appearance).
    pub const DARK: Self = Self {
        foreground: rgb(0xd8_dee9),
        background: rgb(0x1b_1e_24),
        cursor: rgb(0xd8_dee9),
        ansi: [
            rgb(0x3b_4252),
            rgb(0xe0_6c75),
            rgb(0x98_c379),
            rgb(0xe5_c07b),
            rgb(0x61_afef),
            rgb(0xc6_78dd),
            rgb(0x56_b6c2),
            rgb(0xd8_dee9),
            rgb(0x5c_6370),
            rgb(0xef_7b84),
            rgb(0xa8_d389),
            rgb(0xf0_d08b),
            rgb(0x71_bfff),
            rgb(0xd6_88ed),
            rgb(0x66_c6d2),
            rgb(0xff_ffff),
        ],
    };

    /// The light theme (the app's light appearance).
    pub const LIGHT: Self = Self {
        foreground: rgb(0x24_292f),
        background: rgb(0xff_ffff),
        cursor: rgb(0x24_292f),
        ansi: [
            rgb(0x24_292f),
            rgb(0xcf_222e),
            rgb(0x11_6329),
            rgb(0x4d_2d00),
            rgb(0x09_69da),
            rgb(0x82_50df),
            rgb(0x1b_7c83),
            rgb(0x6e_7781),
            rgb(0x57_606a),
            rgb(0xa4_0e26),
            rgb(0x1a_7f37),
            rgb(0x63_3c01),
            rgb(0x21_8bff),
            rgb(0xa4_75f9),
            rgb(0x31_92aa),
            rgb(0x8c_959f),
        ],
    };

    /// The colour at an emulator colour index: 0–255 the xterm palette, then the named
    /// foreground, background and cursor (and their dim variants, approximated).
    pub fn color(&self, index: usize) -> Rgb {
        match index {
            0..=15 => self.ansi[index],
            16..=231 => {
                let cube = index - 16;
                let level = |n: usize| if n == 0 { 0 } else { (55 + n * 40) as u8 };
                Rgb {
                    r: level(cube / 36),
                    g: level((cube / 6) % 6),
                    b: level(cube % 6),
                }
            }
            232..=255 => {
                let gray = (8 + (index - 232) * 10) as u8;
                Rgb {
                    r: gray,
                    g: gray,
                    b: gray,
                }
            }
            i if i == NamedColor::Background as usize => self.background,
            i if i == NamedColor::Cursor as usize => self.cursor,
            _ => self.foreground,
        }
    }
}

impl Default for Theme {
    fn default() -> Self {
        Self::DARK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_palette_follows_xterm() {
        let theme = Theme::DARK;
        assert_eq!(theme.color(16), rgb(0x00_0000));
        assert_eq!(theme.color(21), rgb(0x00_00ff));
        assert_eq!(theme.color(196), rgb(0xff_0000));
        assert_eq!(theme.color(232), rgb(0x08_0808));
        assert_eq!(theme.color(255), rgb(0xee_eeee));
        assert_eq!(
            theme.color(NamedColor::Foreground as usize),
            theme.foreground
        );
        assert_eq!(
            theme.color(NamedColor::Background as usize),
            theme.background
        );
    }
}
