//! A thin, position-aware view of a YAML document for the manifest and service-spec rules.
//!
//! Scalars are kept as their source text (no early parsing) because Talos decodes into Go strings:
//! an unquoted `version: 1.10` is the string `"1.10"` there, not the float 1.1.

use saphyr::{MarkedYaml, ScalarStyle, YamlData, YamlLoader};
use saphyr_parser::{Event, Parser, ScanError, SpannedEventReceiver};

/// A node of a loaded document with the 1-based line it starts on.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    node: &'a MarkedYaml<'a>,
}

/// Deepest nesting of YAML sequences and mappings read (a fixed limit). Loaded documents, their
/// readers and their destructors recurse once per level, so deeper input is refused while it is
/// parsed, before any of them runs: `- - - …` nests a level every two bytes.
pub const MAX_YAML_DEPTH: usize = 1000;

/// Feeds every event of `text` to `recv`, as `saphyr_parser::Parser::load` does for a stream of
/// documents but without recursing, and fails at the first collection nested deeper than
/// [`MAX_YAML_DEPTH`].
pub fn load_yaml<'i, R: SpannedEventReceiver<'i>>(
    text: &'i str,
    recv: &mut R,
) -> Result<(), ScanError> {
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_YAML_DEPTH {
                    return Err(ScanError::new(
                        span.start,
                        format!(
                            "sequences and mappings nest more than {MAX_YAML_DEPTH} deep (a fixed limit); flatten the document"
                        ),
                    ));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        recv.on_event(event, span);
    }
    Ok(())
}

/// Parses the first document of `text`; `Ok(None)` for an empty stream or an empty document.
pub fn parse(text: &str) -> Result<Option<MarkedYaml<'_>>, String> {
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.early_parse(false);
    loader.allow_duplicate_keys(false);
    load_yaml(text, &mut loader).map_err(|e| e.to_string())?;
    if let Some(e) = loader.error() {
        return Err(e.to_string());
    }
    let doc = loader.into_documents().into_iter().next();
    Ok(doc)
}

impl<'a> Node<'a> {
    pub fn new(node: &'a MarkedYaml<'a>) -> Node<'a> {
        Node { node }
    }

    /// 1-based line of the node.
    pub fn line(&self) -> usize {
        self.node.span.start.line()
    }

    fn data(&self) -> &'a YamlData<'a, MarkedYaml<'a>> {
        match &self.node.data {
            YamlData::Tagged(_, inner) => &inner.data,
            other => other,
        }
    }

    /// Whether the node is null (`~`, `null`, empty).
    pub fn is_null(&self) -> bool {
        match self.data() {
            YamlData::Representation(text, ScalarStyle::Plain, _) => {
                matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
            }
            YamlData::Value(saphyr::Scalar::Null) => true,
            _ => false,
        }
    }

    /// The source text of a scalar (quoted or not); `None` for collections and null.
    pub fn scalar(&self) -> Option<&'a str> {
        if self.is_null() {
            return None;
        }
        match self.data() {
            YamlData::Representation(text, _, _) => Some(text.as_ref()),
            _ => None,
        }
    }

    /// Mapping entries as (key text, value), in document order; `None` if not a mapping.
    pub fn entries(&self) -> Option<Vec<(&'a str, Node<'a>)>> {
        match self.data() {
            YamlData::Mapping(map) => Some(
                map.iter()
                    .map(|(k, v)| {
                        let key = match &k.data {
                            YamlData::Representation(text, _, _) => text.as_ref(),
                            _ => "",
                        };
                        (key, Node::new(v))
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        self.entries()?
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// The value under `key` of a mapping unless it is null: YAML's `key:` and `key: ~` count as
    /// not set, as in Talos' Go structs.
    pub fn value(&self, key: &str) -> Option<Node<'a>> {
        self.get(key).filter(|n| !n.is_null())
    }

    /// Sequence items; `None` if not a sequence.
    pub fn items(&self) -> Option<Vec<Node<'a>>> {
        match self.data() {
            YamlData::Sequence(items) => Some(items.iter().map(Node::new).collect()),
            _ => None,
        }
    }

    /// `line N: WHAT must be EXPECTED, found KIND`, the message for a value of the wrong shape.
    pub fn shape_error(&self, what: &str, expected: &str) -> String {
        format!(
            "line {}: {what} must be {expected}, found {}",
            self.line(),
            self.kind()
        )
    }

    /// What kind of node this is, for "expected a mapping, found …" messages.
    pub fn kind(&self) -> &'static str {
        if self.is_null() {
            return "nothing";
        }
        match self.data() {
            YamlData::Mapping(_) => "a mapping",
            YamlData::Sequence(_) => "a list",
            YamlData::Alias(_) => "an alias",
            _ => "a scalar",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("metadata:\n  {}x\n", "- ".repeat(300_000));
        let err = parse(&deep).unwrap_err();
        let limit = format!("more than {MAX_YAML_DEPTH} deep");
        assert!(err.contains(&limit), "{err}");
        // Flow collections stop earlier, at the scanner's own limit.
        let flow = format!("metadata:\n  {}x\n", "[".repeat(300_000));
        assert!(parse(&flow).unwrap_err().contains("recursion limit"));
        let shallow = format!("metadata:\n  {}x{}\n", "[".repeat(10), "]".repeat(10));
        assert!(parse(&shallow).unwrap().is_some());
    }
}
