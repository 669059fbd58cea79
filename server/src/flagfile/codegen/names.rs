//! Identifiers from flag keys and variation values: words split at
//! anything not an ASCII letter or digit and where a lower-case letter or
//! digit meets an upper-case one (`new-lobby`, `new_lobby` and `newLobby`
//! are all the words `new`, `lobby`), then joined as the language names
//! things. Two keys that give one name are reported, naming both.

use std::collections::BTreeMap;

/// The words of `text`, lower-cased.
pub fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        word.push(c.to_ascii_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// A leading digit cannot start an identifier.
fn guard_digit(name: String) -> Option<String> {
    match name.chars().next() {
        None => None,
        Some(c) if c.is_ascii_digit() => Some(format!("_{name}")),
        Some(_) => Some(name),
    }
}

/// `newLobby`; `None` when the text has no letters or digits.
pub fn camel(text: &str) -> Option<String> {
    let words = words(text);
    let mut name = words.first()?.clone();
    for word in &words[1..] {
        name.push_str(&capitalised(word));
    }
    guard_digit(name)
}

/// `new_lobby`.
pub fn snake(text: &str) -> Option<String> {
    guard_digit(words(text).join("_"))
}

/// `NewLobby`.
pub fn pascal(text: &str) -> Option<String> {
    guard_digit(words(text).iter().map(|w| capitalised(w)).collect())
}

/// Gives each item a name with `name_of`; an error for every item with no
/// name and every name two items share (`what` says what is being named,
/// e.g. "getter").
pub fn assign<'a>(
    items: impl IntoIterator<Item = &'a str>,
    what: &str,
    name_of: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, Vec<String>> {
    let mut names = Vec::new();
    let mut errors = Vec::new();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for item in items {
        let Some(name) = name_of(item) else {
            errors.push(format!(
                "flag `{item}`: no {what} name can be made from it (no letters or digits)"
            ));
            continue;
        };
        if let Some(first) = seen.get(&name) {
            errors.push(format!(
                "flags `{first}` and `{item}` both map to the {what} `{name}`; rename one"
            ));
            continue;
        }
        seen.insert(name.clone(), item);
        names.push(name);
    }
    if errors.is_empty() {
        Ok(names)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_words_at_separators_and_humps() {
        assert_eq!(words("new-lobby"), ["new", "lobby"]);
        assert_eq!(words("checkout.v2_beta"), ["checkout", "v2", "beta"]);
        assert_eq!(words("newLobbyV2"), ["new", "lobby", "v2"]);
        assert_eq!(words("HTTPServer"), ["httpserver"]);
        assert_eq!(words("--"), Vec::<String>::new());
    }

    #[test]
    fn names_follow_each_convention() {
        assert_eq!(camel("new-lobby").as_deref(), Some("newLobby"));
        assert_eq!(snake("new-lobby").as_deref(), Some("new_lobby"));
        assert_eq!(pascal("new-lobby").as_deref(), Some("NewLobby"));
        assert_eq!(camel("2fa-login").as_deref(), Some("_2faLogin"));
        assert_eq!(snake("..."), None);
    }

    #[test]
    fn two_keys_with_one_name_are_an_error_naming_both() {
        let errors = assign(["a-b", "ok", "a_b", "-"], "getter", camel).unwrap_err();
        assert_eq!(
            errors,
            [
                "flags `a-b` and `a_b` both map to the getter `aB`; rename one",
                "flag `-`: no getter name can be made from it (no letters or digits)",
            ]
        );
        assert_eq!(assign(["a-b", "c"], "getter", camel).unwrap(), ["aB", "c"]);
    }
}
