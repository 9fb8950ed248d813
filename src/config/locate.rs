//! Finds the line of a key path in block-style YAML, for errors found after deserialization
//! (cross-key checks such as "psk without a matching secret"), which serde cannot locate.
//!
//! This is deliberately small: it tracks indentation of `key:` lines and ignores list items and
//! flow collections. When it cannot find the key, the error is still reported with the key path.

/// 1-based (line, column) of the key at `path`, e.g. `["connections", "west", "local", "auth"]`.
pub fn key_position(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    key_positions(text, path).into_iter().next()
}

/// Every (line, column) at which the key path `path` is given, in file order (more than one
/// when a map repeats a key).
pub fn key_positions(text: &str, path: &[&str]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let content = raw.trim_start();
        if content.is_empty() || content.starts_with('#') || content.starts_with("---") {
            continue;
        }
        let indent = raw.len() - content.len();
        // List items do not open keys of their own in the paths we look for.
        if content.starts_with("- ") || content == "-" {
            continue;
        }
        let Some(key) = leading_key(content) else {
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        if stack.len() == path.len() && stack.iter().zip(path).all(|((_, k), p)| k == p) {
            found.push((idx + 1, indent + 1));
        }
    }
    found
}

fn leading_key(content: &str) -> Option<String> {
    let (key, rest) = if let Some(q) = content.strip_prefix('"') {
        let end = q.find('"')?;
        (q.get(..end)?.to_owned(), q.get(end + 1..)?)
    } else if let Some(q) = content.strip_prefix('\'') {
        let end = q.find('\'')?;
        (q.get(..end)?.to_owned(), q.get(end + 1..)?)
    } else {
        let colon = content.find(':')?;
        (
            content.get(..colon)?.trim_end().to_owned(),
            content.get(colon..)?,
        )
    };
    let rest = rest.trim_start();
    let after = rest.strip_prefix(':')?;
    (after.is_empty() || after.starts_with([' ', '\t'])).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_by_indentation() {
        let text = "connections:\n  a:\n    local:\n      auth: psk\n  b:\n    # comment\n    local:\n      id: x\n      auth: psk\n";
        assert_eq!(
            key_position(text, &["connections", "a", "local", "auth"]),
            Some((4, 7))
        );
        assert_eq!(
            key_position(text, &["connections", "b", "local", "auth"]),
            Some((9, 7))
        );
        assert_eq!(key_position(text, &["connections", "b"]), Some((5, 3)));
        assert_eq!(key_position(text, &["connections", "c"]), None);
    }

    #[test]
    fn handles_quoted_keys_and_urls_in_values() {
        let text = "\"conn one\":\n  url: http://x\n  'k': 1\n";
        assert_eq!(key_position(text, &["conn one", "k"]), Some((3, 3)));
        assert_eq!(key_position(text, &["conn one", "url"]), Some((2, 3)));
    }
}
