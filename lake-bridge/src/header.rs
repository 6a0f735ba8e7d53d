//! The module header parser: a port of Lean's fast header parser
//! (`Lean/Elab/ParseImportsFast.lean`), which is what Lake itself uses to find imports.
//!
//! Accepted grammar (whitespace = spaces, CR, LF, `--` line comments and nested `/- -/`
//! block comments):
//!
//! ```text
//! header  := ws ["module" ws] ["prelude" ws] item*
//! item    := ["public" ws] ["meta" ws] "import" ws ["all" ws] ident ws
//! ident   := part ("." part)*      part := idFirst idRest* | "«" (any but "»")+ "»"
//! ```
//!
//! The header ends at the first thing that does not continue it: a `/--` or `/-!` doc
//! comment, or any other token. Keywords are matched as prefixes, exactly as Lean does, so
//! the behaviour on odd input (`importFoo`) is Lean's, not a guess.

use crate::name::{ModName, is_id_first, is_id_rest};

/// One `import` item of a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The imported module.
    pub module: ModName,
    /// `public import` in a `module` file; always true in a file without `module`, as in Lean.
    pub is_exported: bool,
    /// `meta import`.
    pub is_meta: bool,
    /// `import all`.
    pub import_all: bool,
    /// 1-based line of the module name.
    pub line: u32,
    /// 1-based column (in characters) of the module name.
    pub column: u32,
}

/// A parsed module header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The file starts with `module` (the Lean module system).
    pub is_module: bool,
    /// The file says `prelude`; without it Lean adds an implicit `import Init`, which is
    /// not in [`Header::imports`] but is an edge of the module graph.
    pub prelude: bool,
    /// The explicit imports, in source order.
    pub imports: Vec<Import>,
}

/// Why a header does not parse: Lean's own message and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct HeaderError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column in characters.
    pub column: u32,
    /// Lean's message, e.g. `unterminated comment`.
    pub message: String,
}

/// The flags of the import item being parsed, as Lean's parser state keeps them.
struct Parser<'a> {
    input: &'a str,
    pos: usize,
    is_module: bool,
    is_meta: bool,
    is_exported: bool,
    import_all: bool,
    bad_modifier: bool,
    imports: Vec<(usize, Import)>,
}

/// An error at a byte offset; converted to line and column once, at the end.
struct Fail {
    at: usize,
    message: &'static str,
}

type Step = Result<(), Fail>;

impl<'a> Parser<'a> {
    fn get(&self, i: usize) -> Option<char> {
        self.input.get(i..).and_then(|s| s.chars().next())
    }

    fn fail(&self, at: usize, message: &'static str) -> Fail {
        Fail { at, message }
    }

    fn whitespace(&mut self) -> Step {
        loop {
            let Some(c) = self.get(self.pos) else {
                return Ok(());
            };
            match c {
                '\t' => {
                    return Err(self.fail(
                        self.pos,
                        "tabs are not allowed; please configure your editor to expand them",
                    ));
                }
                ' ' | '\r' | '\n' => self.pos += 1,
                '-' if self.get(self.pos + 1) == Some('-') => {
                    self.pos = self.input[self.pos..]
                        .find('\n')
                        .map_or(self.input.len(), |n| self.pos + n);
                }
                '/' if self.get(self.pos + 1) == Some('-') => {
                    let third = self.pos + 2;
                    match self.get(third) {
                        // `/--` and `/-!` are doc comments: tokens, so the header ends.
                        Some('-' | '!') => return Ok(()),
                        // Lean steps over the character after `/-` before scanning.
                        Some(c) => {
                            let start = self.pos;
                            self.pos = third + c.len_utf8();
                            self.finish_comment_block(start)?;
                        }
                        None => return Err(self.fail(self.pos, "unterminated comment")),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Skips to the end of a block comment opened at `start`, honouring nesting. Mirrors
    /// `finishCommentBlock`, including that a `-` followed by anything but `/` skips both.
    fn finish_comment_block(&mut self, start: usize) -> Step {
        let mut nesting = 1u32;
        loop {
            let Some(c) = self.get(self.pos) else {
                return Err(self.fail(start, "unterminated comment"));
            };
            let i = self.pos + c.len_utf8();
            match c {
                '-' => {
                    let Some(c2) = self.get(i) else {
                        return Err(self.fail(start, "unterminated comment"));
                    };
                    self.pos = i + c2.len_utf8();
                    if c2 == '/' {
                        if nesting == 1 {
                            return Ok(());
                        }
                        nesting -= 1;
                    }
                }
                '/' => {
                    let Some(c2) = self.get(i) else {
                        return Err(self.fail(start, "unterminated comment"));
                    };
                    if c2 == '-' {
                        nesting += 1;
                        self.pos = i + 1;
                    } else {
                        self.pos = i;
                    }
                }
                _ => self.pos = i,
            }
        }
    }

    /// `keywordCore`: on a match, consumes it and the whitespace after it.
    fn keyword(&mut self, k: &str) -> Result<bool, Fail> {
        if self.input[self.pos..].starts_with(k) {
            self.pos += k.len();
            self.whitespace()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn is_id_cont(&self) -> bool {
        self.get(self.pos) == Some('.')
            && self
                .get(self.pos + 1)
                .is_some_and(|c| is_id_first(c) || c == '«')
    }

    fn module_ident(&mut self) -> Step {
        let name_at = self.pos;
        let mut parts = Vec::new();
        loop {
            let Some(c) = self.get(self.pos) else {
                return Err(self.fail(self.pos, "unexpected end of input"));
            };
            if c == '«' {
                let start = self.pos + c.len_utf8();
                let Some(len) = self.input[start..].find('»') else {
                    self.pos = self.input.len();
                    return Err(self.fail(start, "unterminated identifier escape"));
                };
                if len == 0 {
                    return Err(self.fail(self.pos, "empty identifier escape `«»`"));
                }
                parts.push(self.input[start..start + len].to_owned());
                self.pos = start + len + '»'.len_utf8();
            } else if is_id_first(c) {
                let start = self.pos;
                let rest = &self.input[start + c.len_utf8()..];
                let len = rest.find(|c| !is_id_rest(c)).unwrap_or(rest.len());
                self.pos = start + c.len_utf8() + len;
                parts.push(self.input[start..self.pos].to_owned());
            } else {
                return Err(self.fail(self.pos, "expected identifier"));
            }
            if self.is_id_cont() {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.imports.push((
            name_at,
            Import {
                module: ModName::from_parts(parts),
                is_exported: self.is_exported,
                is_meta: self.is_meta,
                import_all: self.import_all,
                line: 0,
                column: 0,
            },
        ));
        let ws = self.whitespace();
        self.is_meta = false;
        self.import_all = false;
        self.is_exported = !self.is_module;
        ws
    }

    fn set_modifier(&mut self, flag: fn(&mut Self)) {
        if self.is_module {
            flag(self);
        } else {
            self.bad_modifier = true;
        }
    }

    /// `atomic (["public"] ["meta"] "import")`: on failure nothing is consumed.
    fn import_keywords(&mut self) -> Result<bool, Fail> {
        let start = self.pos;
        let attempt = (|| {
            if self.keyword("public")? {
                self.set_modifier(|p| p.is_exported = true);
            }
            if self.keyword("meta")? {
                self.set_modifier(|p| p.is_meta = true);
            }
            self.keyword("import")
        })();
        match attempt {
            Ok(true) => Ok(true),
            // Lean's `atomic` rewinds, and `manyImports` then drops an error that consumed
            // nothing: the header simply ends here.
            Ok(false) | Err(_) => {
                self.pos = start;
                self.bad_modifier = false;
                Ok(false)
            }
        }
    }

    fn header(&mut self) -> Result<bool, Fail> {
        self.whitespace()?;
        self.is_module = self.keyword("module")?;
        self.is_exported = !self.is_module;
        let prelude = self.keyword("prelude")?;
        loop {
            let start = self.pos;
            if !self.import_keywords()? {
                return Ok(prelude);
            }
            if self.keyword("all")? {
                self.set_modifier(|p| p.import_all = true);
            }
            self.module_ident()?;
            if self.bad_modifier {
                return Err(self.fail(
                    start,
                    "cannot use 'public', 'meta', or 'all' without 'module'",
                ));
            }
        }
    }
}

/// 1-based line and character column of each offset in `offsets` (ascending).
fn positions(input: &str, offsets: impl IntoIterator<Item = usize>) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let (mut line, mut line_start, mut scanned) = (1u32, 0usize, 0usize);
    for at in offsets {
        for (i, b) in input.as_bytes()[scanned..at].iter().enumerate() {
            if *b == b'\n' {
                line += 1;
                line_start = scanned + i + 1;
            }
        }
        scanned = at;
        let column = input[line_start..at].chars().count() as u32 + 1;
        out.push((line, column));
    }
    out
}

/// Parses the header of a Lean source file.
///
/// # Errors
/// [`HeaderError`] with Lean's message (`unterminated comment`, `expected identifier`,
/// tabs, modifiers without `module`) and its line and column.
///
/// # Examples
///
/// ```
/// let h = lake_bridge::header::parse_header("module\npublic import Foo.Bar\n-- import No\ndef x := 1")?;
/// assert!(h.is_module && !h.prelude);
/// assert_eq!(h.imports.len(), 1);
/// assert_eq!(h.imports[0].module.to_string(), "Foo.Bar");
/// # Ok::<(), lake_bridge::header::HeaderError>(())
/// ```
pub fn parse_header(input: &str) -> Result<Header, HeaderError> {
    let mut p = Parser {
        input,
        pos: 0,
        is_module: false,
        is_meta: false,
        is_exported: true,
        import_all: false,
        bad_modifier: false,
        imports: Vec::new(),
    };
    match p.header() {
        Ok(prelude) => {
            let pos = positions(input, p.imports.iter().map(|(at, _)| *at));
            let imports = p
                .imports
                .into_iter()
                .zip(pos)
                .map(|((_, mut imp), (line, column))| {
                    imp.line = line;
                    imp.column = column;
                    imp
                })
                .collect();
            Ok(Header {
                is_module: p.is_module,
                prelude,
                imports,
            })
        }
        Err(Fail { at, message }) => {
            let (line, column) = positions(input, [at])[0];
            Err(HeaderError {
                line,
                column,
                message: message.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<String> {
        parse_header(src)
            .unwrap()
            .imports
            .iter()
            .map(|i| i.module.to_string())
            .collect()
    }

    #[test]
    fn plain_imports_and_implicit_init() {
        let h = parse_header("import Foo\nimport Bar.Baz\n\ndef x := 1\nimport Late").unwrap();
        assert!(!h.prelude && !h.is_module);
        assert_eq!(
            names("import Foo\nimport Bar.Baz\n\ndef x := 1\nimport Late"),
            ["Foo", "Bar.Baz"]
        );
        assert_eq!((h.imports[1].line, h.imports[1].column), (2, 8));
        assert!(h.imports.iter().all(|i| i.is_exported));
    }

    #[test]
    fn prelude_drops_init() {
        let h = parse_header("prelude\nimport Init.Core").unwrap();
        assert!(h.prelude);
        assert_eq!(h.imports.len(), 1);
    }

    #[test]
    fn module_system_modifiers() {
        let h = parse_header(
            "module\n\npublic import A\nmeta import B\npublic meta import all C\nimport all D\nimport E\n",
        )
        .unwrap();
        assert!(h.is_module);
        let flags: Vec<_> = h
            .imports
            .iter()
            .map(|i| (i.module.to_string(), i.is_exported, i.is_meta, i.import_all))
            .collect();
        assert_eq!(
            flags,
            [
                ("A".into(), true, false, false),
                ("B".into(), false, true, false),
                ("C".into(), true, true, true),
                ("D".into(), false, false, true),
                ("E".into(), false, false, false),
            ]
        );
    }

    #[test]
    fn modifiers_without_module_are_an_error() {
        let e = parse_header("import A\npublic import B").unwrap_err();
        assert_eq!(
            e.message,
            "cannot use 'public', 'meta', or 'all' without 'module'"
        );
        assert_eq!(e.line, 2);
    }

    #[test]
    fn comments_and_doc_comments() {
        let src = "-- import NotThis\n/- import NotThat /- nested import No -/ still -/\nimport Yes -- import Nope\n/-- doc: import Never -/\nimport AfterDoc";
        assert_eq!(names(src), ["Yes"]);
        assert_eq!(
            names("/-! module doc\nimport X -/\nimport Y"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn guillemets() {
        assert_eq!(
            names("import «my lib».«Sub.Part».x\nimport Foo.«def»"),
            ["«my lib».«Sub.Part».x", "Foo.def"]
        );
        let h = parse_header("import «a.b».c").unwrap();
        assert_eq!(h.imports[0].module.parts(), ["a.b", "c"]);
    }

    #[test]
    fn unterminated_comment_names_where_it_opened() {
        let e = parse_header("import A\n  /- never closed\nimport B").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (2, 3, "unterminated comment")
        );
        let e = parse_header("/-").unwrap_err();
        assert_eq!(e.message, "unterminated comment");
    }

    #[test]
    fn bad_identifiers() {
        assert_eq!(
            parse_header("import 3x").unwrap_err().message,
            "expected identifier"
        );
        assert_eq!(
            parse_header("import ").unwrap_err().message,
            "unexpected end of input"
        );
        assert_eq!(
            parse_header("import «abc").unwrap_err().message,
            "unterminated identifier escape"
        );
        assert!(
            parse_header("import\tA").is_ok(),
            "a tab after `import` ends the header, as in Lean"
        );
        assert!(
            parse_header("\timport A")
                .unwrap_err()
                .message
                .starts_with("tabs are not allowed")
        );
    }

    #[test]
    fn dash_pairs_inside_a_comment_follow_leans_fast_parser() {
        // Lean's `finishCommentBlock` consumes `-` and the character after it together, so
        // `--/` does not close a comment; the next `-/` does.
        assert_eq!(names("/- a --/ -/\nimport X"), ["X"]);
        assert_eq!(
            parse_header("/- a --/\nimport X").unwrap_err().message,
            "unterminated comment"
        );
    }

    #[test]
    fn keywords_are_prefixes_as_in_lean() {
        let h = parse_header("moduleimport A").unwrap();
        assert!(h.is_module);
        assert_eq!(names("moduleimport A"), ["A"]);
    }

    #[test]
    fn unicode_names() {
        assert_eq!(
            names("import Mathlib.Algebra.α₁.ℕ"),
            ["Mathlib.Algebra.α₁.ℕ"]
        );
    }

    #[test]
    fn header_ends_at_first_other_token() {
        assert_eq!(names("import A\nopen B\nimport C"), ["A"]);
        assert_eq!(
            names("import A.B.\nimport C"),
            ["A.B"],
            "a trailing dot ends the name"
        );
    }
}
