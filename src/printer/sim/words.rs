//! The letter/number words of one G-code command (`G1 X10 Y5 F3000`), read the way
//! Marlin's parser reads them: a command code, then parameters in any order, spaces optional.

/// One parsed command: its code (`G1`, `M109`, `T0`) and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Words {
    code: Option<(char, u32)>,
    params: Vec<(char, Option<f64>)>,
}

impl Words {
    pub(super) fn parse(text: &str) -> Self {
        let mut rest = text.trim_start();
        let code = read_word(&mut rest).and_then(|(letter, number)| {
            let number = number.filter(|n| *n >= 0.0 && n.fract() == 0.0)?;
            // `as` is exact here: the value is a whole, non-negative number.
            Some((letter, number.min(f64::from(u32::MAX)) as u32))
        });
        let mut params = Vec::new();
        while let Some(word) = read_word(&mut rest) {
            params.push(word);
        }
        Self { code, params }
    }

    /// The command letter and number, `('G', 1)` for `G1`.
    pub(super) fn code(&self) -> Option<(char, u32)> {
        self.code
    }

    /// The number after parameter `letter`, when it has one.
    pub(super) fn value(&self, letter: char) -> Option<f64> {
        self.params
            .iter()
            .find(|(l, _)| *l == letter)
            .and_then(|(_, v)| *v)
    }

    /// Whether parameter `letter` appears at all, with or without a number.
    pub(super) fn has(&self, letter: char) -> bool {
        self.params.iter().any(|(l, _)| *l == letter)
    }
}

/// Reads `<letter><number?>` from the front of `rest`, skipping spaces and stray bytes.
fn read_word(rest: &mut &str) -> Option<(char, Option<f64>)> {
    let start = rest.find(|c: char| c.is_ascii_alphabetic())?;
    let letter = rest[start..].chars().next()?.to_ascii_uppercase();
    let after = &rest[start + 1..];
    let end = after
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(after.len());
    let number = after[..end].parse::<f64>().ok().filter(|n| n.is_finite());
    *rest = &after[end..];
    Some((letter, number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_code_and_parameters_with_or_without_spaces() {
        let words = Words::parse("G1X10.5 y-2 F3000 E");
        assert_eq!(words.code(), Some(('G', 1)));
        assert_eq!(words.value('X'), Some(10.5));
        assert_eq!(words.value('Y'), Some(-2.0));
        assert_eq!(words.value('F'), Some(3000.0));
        assert!(words.has('E'));
        assert_eq!(words.value('E'), None);
        assert!(!words.has('Z'));
    }
}
