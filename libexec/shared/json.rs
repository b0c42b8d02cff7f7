// A strict JSON reader (RFC 8259), std only, for the few host-side decisions that read JSON a
// sandboxed program wrote (fix_filter.rs: rustc's diagnostics, which a proc macro can forge).
// Strings are decoded (escapes, \u with surrogate pairs) so that a key spelled with escapes is the
// key it decodes to, as serde_json reads it; anything that is not exactly one JSON value (with
// surrounding whitespace) is an error. Depth is bounded.

#[derive(Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// As written (the few numbers read are small integers: Value::integer).
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Keys in order, duplicates kept (every one is looked at).
    Object(Vec<(String, Value)>),
}

const MAX_DEPTH: usize = 128;

impl Value {
    /// A non-negative integer written without fraction or exponent.
    pub(crate) fn integer(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// An array of strings, as owned strings; None for anything else.
    pub(crate) fn strings(&self) -> Option<Vec<String>> {
        match self {
            Value::Array(items) => items.iter().map(|i| if let Value::String(s) = i { Some(s.clone()) } else { None }).collect(),
            _ => None,
        }
    }

    /// The value of an object's key (the first, if repeated).
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

pub(crate) fn parse(text: &[u8]) -> Option<Value> {
    let mut p = Parser { s: text, i: 0 };
    let v = p.value(0)?;
    p.ws();
    (p.i == text.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &[u8]) -> Option<()> {
        self.s[self.i..].starts_with(word).then(|| self.i += word.len())
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.eat(b"}").is_some() {
                    return Some(Value::Object(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    self.eat(b":")?;
                    fields.push((key, self.value(depth + 1)?));
                    self.ws();
                    if self.eat(b"}").is_some() {
                        return Some(Value::Object(fields));
                    }
                    self.eat(b",")?;
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]").is_some() {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b"]").is_some() {
                        return Some(Value::Array(items));
                    }
                    self.eat(b",")?;
                }
            }
            b'"' => self.string().map(Value::String),
            b't' => self.eat(b"true").map(|_| Value::Bool(true)),
            b'f' => self.eat(b"false").map(|_| Value::Bool(false)),
            b'n' => self.eat(b"null").map(|_| Value::Null),
            _ => self.number(),
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.s.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i > from
        };
        let _ = self.eat(b"-");
        if self.eat(b"0").is_none() && !digits(self) {
            return None;
        }
        if self.eat(b".").is_some() && !digits(self) {
            return None;
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        (self.i > start).then(|| Value::Number(String::from_utf8_lossy(&self.s[start..self.i]).into_owned()))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok().filter(|_| h.bytes().all(|c| c.is_ascii_hexdigit()))
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b"\"")?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                self.eat(b"\\u")?;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return None,
                _ => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_escapes() {
        assert_eq!(
            parse(b" {\"a\": [1, -2.5e3, true, null, \"x\"]} "),
            Some(Value::Object(vec![(
                "a".into(),
                Value::Array(vec![Value::Number("1".into()), Value::Number("-2.5e3".into()), Value::Bool(true), Value::Null, Value::String("x".into())])
            )]))
        );
        // A key spelled with escapes is the key it decodes to.
        assert_eq!(parse(br#"{"file_\u006eame":"\ud83d\ude00\n"}"#), Some(Value::Object(vec![("file_name".into(), Value::String("\u{1f600}\n".into()))])));
        // Duplicate keys are all kept.
        assert_eq!(parse(br#"{"k":1,"k":2}"#).map(|v| matches!(v, Value::Object(f) if f.len() == 2)), Some(true));
    }

    #[test]
    fn refuses_what_is_not_exactly_one_value() {
        for bad in [&b"{"[..], b"{\"a\":1,}", b"[1 2]", b"{\"a\":1} x", b"\"\\x\"", b"\"\x01\"", b"01x", b"\"\\ud800\"", b"{'a':1}", b""] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(parse(deep.as_bytes()), None);
    }
}
