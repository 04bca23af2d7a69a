//! A byte lexer that knows exactly as much SQL as routing needs: where code is and where it
//! is not (comments, string literals, quoted identifiers), in each dialect's own rules.
//!
//! Getting this wrong in the permissive direction is the dangerous failure: a lexer that thinks
//! `'a\'; DELETE FROM t; --'` is one string literal on PostgreSQL hides a write. So every rule
//! here follows the server's own lexer, and where a server setting changes the rules
//! (backslash escapes), the caller lexes both ways and takes the safer answer.

use super::Dialect;

/// One token. Positions are byte offsets into the statement text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// A bare word: keyword or unquoted identifier.
    Word(usize, usize),
    /// The contents of a quoted identifier (`"x"`, `` `x` ``, `[x]`).
    Quoted(usize, usize),
    /// A string literal, a number, a parameter or an operator: not interesting for routing.
    Other,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `;` outside any quote or comment.
    Semicolon,
}

/// The text could not be lexed to its end: an unterminated quote or comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unterminated;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    dialect: Dialect,
    /// Whether `\` escapes a quote in plain `'...'` (and MySQL `"..."`) literals.
    backslash_escapes: bool,
    /// Inside a MySQL `/*! ... */` executable comment, whose body is code.
    in_exec_comment: bool,
    /// A backslash was seen inside a literal whose meaning depends on `backslash_escapes`.
    pub(crate) saw_ambiguous_backslash: bool,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str, dialect: Dialect, backslash_escapes: bool) -> Self {
        Lexer {
            src: src.as_bytes(),
            pos: 0,
            dialect,
            backslash_escapes,
            in_exec_comment: false,
            saw_ambiguous_backslash: false,
        }
    }

    /// The text of a token's span.
    pub(crate) fn slice(&self, start: usize, end: usize) -> &'a [u8] {
        &self.src[start..end]
    }

    /// The next token, `Ok(None)` at the end of the text.
    #[inline(always)]
    pub(crate) fn next_token(&mut self) -> Result<Option<Token>, Unterminated> {
        self.skip_trivia()?;
        let Some(&b) = self.src.get(self.pos) else {
            return Ok(None);
        };
        let start = self.pos;
        self.pos += 1;
        let token = match b {
            b'(' => Token::Open,
            b')' => Token::Close,
            b';' => Token::Semicolon,
            b'\'' => {
                self.string(b'\'', self.backslash_escapes)?;
                Token::Other
            }
            b'"' if self.dialect == Dialect::MySql => {
                self.string(b'"', self.backslash_escapes)?;
                Token::Other
            }
            b'"' => self.quoted(b'"')?,
            b'`' if self.dialect != Dialect::Postgres => self.quoted(b'`')?,
            b'[' if self.dialect == Dialect::Sqlite => self.quoted(b']')?,
            b'$' if self.dialect == Dialect::Postgres => self.dollar()?,
            b if is_word_start(b) => self.word(start)?,
            _ => Token::Other,
        };
        Ok(Some(token))
    }

    /// The next token with the text it spans (a literal's quotes, a parameter's `$`
    /// included). Off the hot path: for the few places that read what a token says.
    pub(crate) fn next_spanned(&mut self) -> Result<Option<(Token, &'a [u8])>, Unterminated> {
        self.skip_trivia()?;
        let start = self.pos;
        Ok(self
            .next_token()?
            .map(|token| (token, &self.src[start..self.pos])))
    }

    /// The next token without consuming it.
    pub(crate) fn peek_token(&self) -> Result<Option<Token>, Unterminated> {
        let mut ahead = *self;
        ahead.next_token()
    }

    #[inline(always)]
    fn skip_trivia(&mut self) -> Result<(), Unterminated> {
        loop {
            // The common case first: plain whitespace, then a byte that starts no comment.
            self.pos = self.skip_class(self.pos, SPACE);
            let rest = &self.src[self.pos..];
            match rest {
                [b, ..] if class(*b) & COMMENT_START == 0 => return Ok(()),
                [b'-', b'-', tail @ ..] if self.dash_comment_starts(tail) => self.line_comment(),
                [b'#', ..] if self.dialect == Dialect::MySql => self.line_comment(),
                [b'/', b'*', tail @ ..] => self.block_comment(tail)?,
                [b'*', b'/', ..] if self.in_exec_comment => {
                    self.in_exec_comment = false;
                    self.pos += 2;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The first position at or after `from` whose byte is not of `wanted` class. A local
    /// cursor lets the loop stay in a register.
    #[inline]
    fn skip_class(&self, from: usize, wanted: u8) -> usize {
        let mut pos = from;
        while let Some(&b) = self.src.get(pos) {
            if class(b) & wanted == 0 {
                break;
            }
            pos += 1;
        }
        pos
    }

    /// MySQL needs a space or control character after `--` (`1--1` is arithmetic there).
    fn dash_comment_starts(&self, tail: &[u8]) -> bool {
        self.dialect != Dialect::MySql || tail.first().is_none_or(|b| *b <= b' ')
    }

    fn line_comment(&mut self) {
        self.pos = match memchr(b'\n', &self.src[self.pos..]) {
            Some(i) => self.pos + i + 1,
            None => self.src.len(),
        };
    }

    fn block_comment(&mut self, tail: &[u8]) -> Result<(), Unterminated> {
        if self.dialect == Dialect::MySql && !self.in_exec_comment {
            // `/*! code */` and `/*M! code */` run their body: lex it as code.
            let marker = match tail {
                [b'!', ..] => Some(1),
                [b'M', b'!', ..] => Some(2),
                _ => None,
            };
            if let Some(len) = marker {
                self.pos += 2 + len;
                while self.src.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    self.pos += 1;
                }
                self.in_exec_comment = true;
                return Ok(());
            }
        }
        let nests = self.dialect == Dialect::Postgres;
        let mut depth = 1usize;
        let mut i = self.pos + 2;
        while i + 1 < self.src.len() {
            match (self.src[i], self.src[i + 1]) {
                (b'*', b'/') => {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        self.pos = i;
                        return Ok(());
                    }
                }
                (b'/', b'*') if nests => {
                    depth += 1;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        Err(Unterminated)
    }

    /// A literal closed by `quote`, where a doubled quote is one quote character.
    fn string(&mut self, quote: u8, backslash_escapes: bool) -> Result<(), Unterminated> {
        while let Some(&b) = self.src.get(self.pos) {
            self.pos += 1;
            if b == quote {
                if self.src.get(self.pos) == Some(&quote) {
                    self.pos += 1;
                    continue;
                }
                return Ok(());
            }
            if b == b'\\' {
                if backslash_escapes {
                    self.pos += 1;
                }
                self.saw_ambiguous_backslash = true;
            }
        }
        Err(Unterminated)
    }

    fn quoted(&mut self, close: u8) -> Result<Token, Unterminated> {
        let start = self.pos;
        while let Some(&b) = self.src.get(self.pos) {
            self.pos += 1;
            if b == close {
                if close != b']' && self.src.get(self.pos) == Some(&close) {
                    self.pos += 1;
                    continue;
                }
                return Ok(Token::Quoted(start, self.pos - 1));
            }
        }
        Err(Unterminated)
    }

    #[inline(always)]
    fn word(&mut self, start: usize) -> Result<Token, Unterminated> {
        self.pos = self.skip_class(self.pos, WORD_CONTINUE);
        let word = &self.src[start..self.pos];
        if self.src.get(self.pos) == Some(&b'\'') && is_literal_prefix(word) {
            self.pos += 1;
            // PostgreSQL's E'...' always takes backslash escapes, whatever the server setting.
            let escaped = self.dialect == Dialect::Postgres && word.eq_ignore_ascii_case(b"e");
            self.string(b'\'', escaped || self.backslash_escapes)?;
            return Ok(Token::Other);
        }
        Ok(Token::Word(start, self.pos))
    }

    /// PostgreSQL `$1` parameters and `$tag$ ... $tag$` dollar-quoted strings.
    fn dollar(&mut self) -> Result<Token, Unterminated> {
        let tag_start = self.pos - 1;
        if self.src.get(self.pos).is_some_and(u8::is_ascii_digit) {
            while self.src.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            return Ok(Token::Other);
        }
        let mut end = self.pos;
        while self
            .src
            .get(end)
            .is_some_and(|b| is_word_continue(*b) && *b != b'$')
        {
            end += 1;
        }
        if self.src.get(end) != Some(&b'$') {
            return Ok(Token::Other);
        }
        let tag = &self.src[tag_start..=end];
        let body = end + 1;
        match find(&self.src[body..], tag) {
            Some(i) => {
                self.pos = body + i + tag.len();
                Ok(Token::Other)
            }
            None => Err(Unterminated),
        }
    }
}

/// `E'..'`, `N'..'`, `B'..'`, `X'..'` and MySQL charset introducers such as `_utf8mb4'..'`.
fn is_literal_prefix(word: &[u8]) -> bool {
    matches!(
        word,
        [b'e' | b'E' | b'n' | b'N' | b'b' | b'B' | b'x' | b'X'] | [b'_', ..]
    )
}

const SPACE: u8 = 1;
const WORD_START: u8 = 2;
const WORD_CONTINUE: u8 = 4;
const COMMENT_START: u8 = 8;

/// Byte classes, looked up once per byte instead of compared several times.
const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let mut class = 0;
        if byte.is_ascii_whitespace() {
            class |= SPACE;
        }
        if byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80 {
            class |= WORD_START | WORD_CONTINUE;
        }
        if byte.is_ascii_digit() || byte == b'$' {
            class |= WORD_CONTINUE;
        }
        if matches!(byte, b'-' | b'#' | b'/' | b'*') {
            class |= COMMENT_START;
        }
        table[b] = class;
        b += 1;
    }
    table
};

#[inline]
fn class(b: u8) -> u8 {
    CLASSES[b as usize]
}

fn is_word_start(b: u8) -> bool {
    class(b) & WORD_START != 0
}

fn is_word_continue(b: u8) -> bool {
    class(b) & WORD_CONTINUE != 0
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == needle)
}

/// Byte-substring search, linear in `haystack` for the short tags dollar quotes use.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = memchr(first, &haystack[from..]) {
        let at = from + i;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(sql: &str, dialect: Dialect) -> Result<Vec<Token>, Unterminated> {
        let mut lexer = Lexer::new(sql, dialect, false);
        let mut out = Vec::new();
        while let Some(t) = lexer.next_token()? {
            out.push(t);
        }
        Ok(out)
    }

    fn words(sql: &str, dialect: Dialect) -> Vec<String> {
        tokens(sql, dialect)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(s, e) => Some(sql[s..e].to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comments_and_literals_hide_their_contents() {
        let sql = "SELECT /* DELETE */ 'INSERT' -- UPDATE\n , \"DROP\" FROM t";
        assert_eq!(words(sql, Dialect::Postgres), ["SELECT", "FROM", "t"]);
    }

    #[test]
    fn postgres_block_comments_nest() {
        let sql = "SELECT /* a /* b */ DELETE */ 1";
        assert_eq!(words(sql, Dialect::Postgres), ["SELECT"]);
        assert_eq!(words(sql, Dialect::Sqlite), ["SELECT", "DELETE"]);
    }

    #[test]
    fn dollar_quotes_and_parameters() {
        let sql = "SELECT $1, $body$ DELETE $x$ $body$, $$UPDATE$$ FROM t";
        assert_eq!(words(sql, Dialect::Postgres), ["SELECT", "FROM", "t"]);
        assert_eq!(
            tokens("SELECT $a$ open", Dialect::Postgres),
            Err(Unterminated)
        );
    }

    #[test]
    fn escape_strings_follow_postgres() {
        // Plain literal: the backslash is a character, so `; DELETE` is code.
        let plain = "SELECT 'a\\'; DELETE FROM t; --'";
        assert_eq!(
            words(plain, Dialect::Postgres),
            ["SELECT", "DELETE", "FROM", "t"]
        );
        // E'' literal: \' is an escaped quote.
        let escaped = "SELECT E'a\\' DELETE' FROM t";
        assert_eq!(words(escaped, Dialect::Postgres), ["SELECT", "FROM", "t"]);
    }

    #[test]
    fn mysql_comment_rules() {
        assert_eq!(
            words("SELECT 1--1 DELETE", Dialect::MySql),
            ["SELECT", "DELETE"]
        );
        assert_eq!(words("SELECT 1 -- DELETE", Dialect::MySql), ["SELECT"]);
        assert_eq!(words("SELECT 1 # DELETE\n", Dialect::MySql), ["SELECT"]);
        assert_eq!(
            words("SELECT 1 /*!50000 FOR UPDATE */", Dialect::MySql),
            ["SELECT", "FOR", "UPDATE"]
        );
    }

    #[test]
    fn unterminated_input_is_reported() {
        for sql in [
            "SELECT 'open",
            "SELECT \"open",
            "SELECT /* open",
            "SELECT `x",
        ] {
            assert_eq!(tokens(sql, Dialect::MySql), Err(Unterminated), "{sql}");
        }
    }
}
