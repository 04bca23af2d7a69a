//! Calls judged by what their arguments say: PL/pgSQL functions whose only possibly-writing
//! statements are `EXECUTE`s of text made from constants and their own parameters
//! (`EXECUTE format('EXPLAIN ANALYZE %s', $1)`), and built-ins that read what their
//! arguments name (`table_to_xml('t', ...)`, `query_to_xml('SELECT ...', ...)`).
//!
//! Such a call is judged from its arguments only when each one the judgement needs is written
//! out as a string literal: the statement the function would run is then known exactly, and
//! classified like any other. Anything computed, named (`=>`) or `VARIADIC`, and any literal
//! whose meaning depends on server settings (a backslash), leaves the call to the primary.

use super::lexer::{Lexer, Token};

/// One argument of a call, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// A string literal (`'...'` without backslashes, or dollar-quoted), possibly cast
    /// (`'t'::regclass`): its value.
    Literal(String),
    /// Anything else.
    Other,
}

impl Arg {
    pub(crate) fn literal(&self) -> Option<&str> {
        match self {
            Arg::Literal(value) => Some(value),
            Arg::Other => None,
        }
    }
}

/// The arguments of the call whose `(` `lexer` has just read, without consuming them; `None`
/// when they cannot be read by position (named or `VARIADIC` arguments, text cut short).
pub(crate) fn call_args(lexer: &Lexer<'_>) -> Option<Vec<Arg>> {
    let mut probe = *lexer;
    let mut args = Vec::new();
    let mut current: Vec<(Token, &[u8])> = Vec::new();
    let mut depth = 0usize;
    loop {
        let (token, text) = probe.next_spanned().ok()??;
        let top = depth == 0;
        match token {
            Token::Close if top => {
                if !(args.is_empty() && current.is_empty()) {
                    args.push(arg(&current));
                }
                return Some(args);
            }
            Token::Open => depth += 1,
            Token::Close => depth -= 1,
            Token::Semicolon => return None,
            Token::Other if top && text == b"," => {
                args.push(arg(&current));
                current.clear();
                continue;
            }
            Token::Word(..) if top && text.eq_ignore_ascii_case(b"VARIADIC") => return None,
            _ => {}
        }
        let previous = current.last().map(|(_, text)| *text);
        // `name => value` and `name := value`: named notation, whose order is not the call's.
        if top && matches!((previous, text), (Some(b"="), b">") | (Some(b":"), b"=")) {
            return None;
        }
        current.push((token, text));
    }
}

fn arg(tokens: &[(Token, &[u8])]) -> Arg {
    let value = match tokens {
        [(Token::Other, text)] => literal(text),
        [
            (Token::Other, text),
            (_, b":"),
            (_, b":"),
            (Token::Word(..), _),
        ] => literal(text),
        _ => None,
    };
    value.map_or(Arg::Other, Arg::Literal)
}

/// The value of a string literal token: `'...'` (without a backslash, whose meaning depends
/// on `standard_conforming_strings`) or `$tag$...$tag$`.
pub(crate) fn literal(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    if let Some(quoted) = text.strip_prefix('\'') {
        let inner = quoted.strip_suffix('\'')?;
        return (!inner.contains('\\')).then(|| inner.replace("''", "'"));
    }
    let rest = text.strip_prefix('$')?;
    let tag = &text[..rest.find('$')? + 2];
    let body = text[tag.len()..].strip_suffix(tag)?;
    Some(body.to_owned())
}

/// The relation a `regclass` text names, without its schema: `'s."T"'` is `T`, `'s.t'` is
/// `t`.
pub(crate) fn relation_name(text: &str) -> String {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quoted = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                part.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut part)),
            c if quoted => part.push(c),
            c => part.push(c.to_ascii_lowercase()),
        }
    }
    parts.push(part);
    parts.pop().unwrap_or_default()
}

/// Dynamic SQL whose text is made of constants and a function's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// The function's input parameter at this position (from 0), quoted so.
    Param(usize, Quote),
}

/// How `format` puts a value into the text: `%s`, `%I`, `%L` (and `||` as `%s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Raw,
    Identifier,
    Literal,
}

impl Quote {
    fn apply(self, value: &str) -> String {
        match self {
            Quote::Raw => value.to_owned(),
            // Always quoted: the same identifier as `quote_ident`'s output, quoted or not.
            Quote::Identifier => format!("\"{}\"", value.replace('"', "\"\"")),
            Quote::Literal if value.contains('\\') => {
                format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
            }
            Quote::Literal => format!("'{}'", value.replace('\'', "''")),
        }
    }
}

impl Template {
    /// The statement this makes with a call's arguments; `None` when an argument it uses is
    /// missing or not a literal.
    pub(crate) fn instantiate(&self, args: &[Arg]) -> Option<String> {
        let mut text = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(constant) => text.push_str(constant),
                Piece::Param(index, quote) => {
                    text.push_str(&quote.apply(args.get(*index)?.literal()?));
                }
            }
        }
        Some(text)
    }

    /// Whether it uses the parameter at `index`.
    pub(crate) fn uses(&self, index: usize) -> bool {
        self.0
            .iter()
            .any(|piece| matches!(piece, Piece::Param(i, _) if *i == index))
    }
}

/// A PL/pgSQL function that only reads, but for `EXECUTE`s of [`Template`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DynamicFunction {
    /// How many input parameters it takes.
    pub(crate) inputs: usize,
    pub(crate) statements: Vec<Template>,
}

/// One parameter of a PL/pgSQL function, in declaration order: PL/pgSQL's `$n` counts every
/// parameter (`OUT` and `RETURNS TABLE` columns too), a call's arguments only the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(unreachable_pub)]
pub struct Parameter {
    /// Its name (`""` when unnamed).
    pub name: String,
    /// Whether a call passes it (`IN`, `INOUT`).
    pub input: bool,
}

/// How many of `parameters` a call passes.
pub(crate) fn input_count(parameters: &[Parameter]) -> usize {
    parameters.iter().filter(|p| p.input).count()
}

/// Which parameter a token names (`$n`, or its name: PL/pgSQL folds unquoted names), as a
/// position among the inputs; `None` for anything else, an output parameter included.
pub(crate) fn parameter(token: Token, text: &[u8], parameters: &[Parameter]) -> Option<usize> {
    let named = |name: &[u8], fold: bool| {
        parameters.iter().position(|p| {
            !p.name.is_empty()
                && if fold {
                    p.name.as_bytes().eq_ignore_ascii_case(name)
                } else {
                    p.name.as_bytes() == name
                }
        })
    };
    let position = match token {
        Token::Other => {
            let digits = std::str::from_utf8(text.strip_prefix(b"$")?).ok()?;
            digits.parse::<usize>().ok()?.checked_sub(1)?
        }
        Token::Word(..) => named(text, true)?,
        Token::Quoted(..) => named(text.get(1..text.len().saturating_sub(1))?, false)?,
        _ => return None,
    };
    parameters
        .get(position)
        .filter(|p| p.input)
        .map(|_| input_count(&parameters[..position]))
}

/// The text expression of a PL/pgSQL `EXECUTE`, just read: literals, parameters, `||` and
/// `format(...)` with `%s`, `%I`, `%L`. Stops before what ends it (`;`, `INTO`, `USING`,
/// `LOOP`); `None` for anything else.
pub(crate) fn execute_template(
    lexer: &mut Lexer<'_>,
    parameters: &[Parameter],
) -> Option<Template> {
    let mut pieces = Vec::new();
    loop {
        term(lexer, parameters, &mut pieces)?;
        let mut ahead = *lexer;
        match ahead.next_spanned().ok()? {
            Some((Token::Other, b"|")) => match ahead.next_spanned().ok()? {
                Some((Token::Other, b"|")) => *lexer = ahead,
                _ => return None,
            },
            None | Some((Token::Semicolon, _)) => return Some(Template(pieces)),
            Some((Token::Word(..), word))
                if [&b"INTO"[..], b"USING", b"LOOP"]
                    .iter()
                    .any(|end| word.eq_ignore_ascii_case(end)) =>
            {
                return Some(Template(pieces));
            }
            _ => return None,
        }
    }
}

fn term(lexer: &mut Lexer<'_>, parameters: &[Parameter], pieces: &mut Vec<Piece>) -> Option<()> {
    let (token, text) = lexer.next_spanned().ok()??;
    if let Some(index) = parameter(token, text, parameters) {
        pieces.push(Piece::Param(index, Quote::Raw));
        return Some(());
    }
    match token {
        Token::Other => pieces.push(Piece::Text(literal(text)?)),
        Token::Word(..) if text.eq_ignore_ascii_case(b"format") => {
            if lexer.next_token().ok()? != Some(Token::Open) {
                return None;
            }
            format_pieces(lexer, parameters, pieces)?;
        }
        _ => return None,
    }
    Some(())
}

/// A value `format` fills in: a constant or a parameter.
enum Value {
    Constant(String),
    Param(usize),
}

/// `format('spec', values...)` after its `(`, as pieces.
fn format_pieces(
    lexer: &mut Lexer<'_>,
    parameters: &[Parameter],
    pieces: &mut Vec<Piece>,
) -> Option<()> {
    let (_, spec) = lexer.next_spanned().ok()??;
    let spec = literal(spec)?;
    let mut values = Vec::new();
    loop {
        match lexer.next_spanned().ok()?? {
            (Token::Close, _) => break,
            (Token::Other, b",") => {}
            _ => return None,
        }
        let (token, text) = lexer.next_spanned().ok()??;
        values.push(match parameter(token, text, parameters) {
            Some(index) => Value::Param(index),
            None => Value::Constant(literal(text)?),
        });
    }
    let mut chars = spec.chars().peekable();
    let mut text = String::new();
    let mut next = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            text.push('%');
            continue;
        }
        // `%n$s`: an explicit position, after which the sequence goes on from there.
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        if !digits.is_empty() {
            if chars.next() != Some('$') {
                return None;
            }
            next = digits.parse::<usize>().ok()?.checked_sub(1)?;
        }
        let quote = match chars.next()? {
            's' => Quote::Raw,
            'I' => Quote::Identifier,
            'L' => Quote::Literal,
            // Flags, widths and `*`: not needed for statements, not read.
            _ => return None,
        };
        match values.get(next)? {
            Value::Constant(value) => text.push_str(&quote.apply(value)),
            Value::Param(index) => {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Param(*index, quote));
            }
        }
        next += 1;
    }
    pieces.push(Piece::Text(text));
    Some(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Dialect;

    fn args_of(call: &str) -> Option<Vec<Arg>> {
        let mut lexer = Lexer::new(call, Dialect::Postgres, false);
        while lexer.next_token().ok()?? != Token::Open {}
        call_args(&lexer)
    }

    fn lit(value: &str) -> Arg {
        Arg::Literal(value.to_owned())
    }

    #[test]
    fn arguments_as_written() {
        assert_eq!(
            args_of("f('a''b', $x$c'd$x$, 't'::regclass, 1, g(2, 3), E'e')"),
            Some(vec![
                lit("a'b"),
                lit("c'd"),
                lit("t"),
                Arg::Other,
                Arg::Other,
                Arg::Other
            ])
        );
        assert_eq!(args_of("f()"), Some(vec![]));
        // A backslash means different things under different server settings.
        assert_eq!(args_of(r"f('a\b')"), Some(vec![Arg::Other]));
        assert_eq!(args_of("f(q => 'x')"), None);
        assert_eq!(args_of("f(q := 'x')"), None);
        assert_eq!(args_of("f(VARIADIC ARRAY['x'])"), None);
        assert_eq!(args_of("f('x'"), None);
    }

    #[test]
    fn relation_names_from_regclass_text() {
        assert_eq!(relation_name("s.T"), "t");
        assert_eq!(relation_name(r#"s."T.x""y""#), r#"T.x"y"#);
        assert_eq!(relation_name("t"), "t");
    }

    pub(crate) fn inputs(names: &[&str]) -> Vec<Parameter> {
        let parameter = |name: &&str| match name.strip_prefix("out ") {
            Some(name) => Parameter {
                name: name.to_owned(),
                input: false,
            },
            None => Parameter {
                name: (*name).to_owned(),
                input: true,
            },
        };
        names.iter().map(parameter).collect()
    }

    fn template(block: &str, names: &[&str]) -> Option<Template> {
        let mut lexer = Lexer::new(block, Dialect::Postgres, false);
        execute_template(&mut lexer, &inputs(names))
    }

    #[test]
    fn templates_from_execute_expressions() {
        let args = [lit("SELECT 'x'"), lit("T")];
        let made = |block: &str| template(block, &["query", "tbl"])?.instantiate(&args);
        assert_eq!(made("$1 LOOP").as_deref(), Some("SELECT 'x'"));
        assert_eq!(
            made("'explain analyze ' || query INTO x").as_deref(),
            Some("explain analyze SELECT 'x'")
        );
        assert_eq!(
            made("format('explain %s; %% %I %L %1$s %s', $1, tbl, query, 'c')").as_deref(),
            Some(r#"explain SELECT 'x'; % "T" 'SELECT ''x''' SELECT 'x' T"#)
        );
        assert_eq!(
            made("format('%s %I', 'a\"b', 'c\"d');").as_deref(),
            Some(r#"a"b "c""d""#)
        );
        // Computed text, unknown words, flags: not templates.
        assert_eq!(template("upper($1);", &["q"]), None);
        assert_eq!(template("other_var;", &["q"]), None);
        assert_eq!(template("format('%-10s', $1);", &["q"]), None);
        assert_eq!(template("'a' || $2;", &["q"]), None);
        assert_eq!(template("$1 || ';'", &["q"]).map(|_| ()), Some(()));
        // `$n` counts output parameters too; a call passes only the inputs.
        let t = template("$2 || $q$ $q$ || out_2;", &["out n", "q", "out out_2"]);
        assert_eq!(t, None, "an output parameter is no input");
        let t = template("$2 || $q$ $q$ || $4;", &["out n", "q", "out m", "r"]).expect("inputs");
        assert_eq!(t.instantiate(&args).as_deref(), Some("SELECT 'x' T"));
        assert_eq!(template("$1;", &["out n", "q"]), None);
        // An argument that is not a literal leaves nothing to classify.
        let t = template("$1;", &["q"]).expect("a template");
        assert_eq!(t.instantiate(&[Arg::Other]), None);
        assert_eq!(t.instantiate(&[]), None);
        assert!(t.uses(0) && !t.uses(1));
    }
}
