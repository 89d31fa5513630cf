//! The formula language of charging rules and current limits
//! (`16000 - M1.current`, `date.dayminute >= 480 ? 8000 : 0`): a parser
//! with errors that say where and what was expected, and an evaluator.
//! Pure code.
//!
//! Every input is safe: the text, the nesting depth and the number of
//! nodes are limited, so parsing and evaluating are bounded in time and
//! stack; nothing panics. Names are case-insensitive. Numbers are `f64`;
//! comparisons and logic give 1 or 0.
//!
//! Operators, lowest binding first: `?:`, `||`, `&&`, `|`, `&`, `== !=`,
//! `< <= > >=`, `+ -`, `* / %`, `^` (power, right-associative), unary `! -`.
//! Functions: `min`, `max` (two or more arguments), `abs`, `clamp(x, lo, hi)`,
//! `round`, `sqrt`, `exists(x)` (1 if `x` can be evaluated), `param(name)`.

use std::fmt;

/// Longest formula accepted, in bytes.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a formula may have.
pub const MAX_NODES: usize = 2000;

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    /// A name like `m1.current_l1` or `date.hour`, lower case, split at dots.
    Name(Vec<String>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    BitOr,
    BitAnd,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Min,
    Max,
    Abs,
    Clamp,
    Round,
    Sqrt,
    Exists,
    Param,
}

impl Func {
    fn by_name(name: &str) -> Option<Self> {
        Some(match name {
            "min" => Func::Min,
            "max" => Func::Max,
            "abs" => Func::Abs,
            "clamp" => Func::Clamp,
            "round" => Func::Round,
            "sqrt" => Func::Sqrt,
            "exists" => Func::Exists,
            "param" => Func::Param,
            _ => return None,
        })
    }

    /// Allowed argument counts.
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Min | Func::Max => (2, usize::MAX),
            Func::Clamp => (3, 3),
            Func::Abs | Func::Round | Func::Sqrt | Func::Exists | Func::Param => (1, 1),
        }
    }
}

/// Why a formula does not parse: where, what was expected, what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset (0-based) in the formula.
    pub position: usize,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at {}: expected {}, found {}",
            self.position + 1,
            self.expected,
            self.found
        )
    }
}

impl std::error::Error for ParseError {}

/// Why a formula cannot be evaluated now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("unknown name {0}")]
    UnknownName(String),
    #[error("division by zero")]
    DivisionByZero,
    #[error("the result is not a number")]
    NotANumber,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Name(String),
    Op(&'static str),
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Num(n) => write!(f, "number {n}"),
            Token::Name(n) => write!(f, "name {n}"),
            Token::Op(o) => write!(f, "'{o}'"),
            Token::End => write!(f, "the end"),
        }
    }
}

/// Operators, longest first so `<=` wins over `<`.
const OPS: &[&str] = &[
    "||", "&&", "==", "!=", "<=", ">=", "?", ":", "|", "&", "<", ">", "+", "-", "*", "/", "%", "^",
    "!", "(", ")", ",",
];

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let literal = &text[start..i];
            let n = literal.parse::<f64>().map_err(|_| ParseError {
                position: start,
                expected: "a number".into(),
                found: format!("'{literal}'"),
            })?;
            out.push((start, Token::Num(n)));
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            out.push((start, Token::Name(text[start..i].to_ascii_lowercase())));
            continue;
        }
        match OPS.iter().find(|op| text[i..].starts_with(**op)) {
            Some(op) => {
                out.push((i, Token::Op(op)));
                i += op.len();
            }
            None => {
                let found = text[i..]
                    .chars()
                    .next()
                    .map_or_else(String::new, |ch| format!("'{ch}'"));
                return Err(ParseError {
                    position: i,
                    expected: "a number, a name, an operator or a parenthesis".into(),
                    found,
                });
            }
        }
    }
    out.push((text.len(), Token::End));
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    depth: usize,
    nodes: usize,
}

/// Binary operators by precedence level, lowest first.
const LEVELS: &[&[(&str, BinaryOp)]] = &[
    &[("||", BinaryOp::Or)],
    &[("&&", BinaryOp::And)],
    &[("|", BinaryOp::BitOr)],
    &[("&", BinaryOp::BitAnd)],
    &[("==", BinaryOp::Eq), ("!=", BinaryOp::Ne)],
    &[
        ("<", BinaryOp::Lt),
        ("<=", BinaryOp::Le),
        (">", BinaryOp::Gt),
        (">=", BinaryOp::Ge),
    ],
    &[("+", BinaryOp::Add), ("-", BinaryOp::Sub)],
    &[
        ("*", BinaryOp::Mul),
        ("/", BinaryOp::Div),
        ("%", BinaryOp::Rem),
    ],
];

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)].1
    }

    fn position(&self) -> usize {
        self.tokens[self.at.min(self.tokens.len() - 1)].0
    }

    fn error(&self, expected: &str) -> ParseError {
        ParseError {
            position: self.position(),
            expected: expected.into(),
            found: self.peek().to_string(),
        }
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Token::Op(o) if *o == op) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn node(&mut self) -> Result<(), ParseError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error(&format!("a formula of at most {MAX_NODES} parts")));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("at most {MAX_DEPTH} levels of nesting")));
        }
        Ok(())
    }

    fn ternary(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let condition = self.binary(0)?;
        let expr = if self.eat("?") {
            let then = self.ternary()?;
            if !self.eat(":") {
                return Err(self.error("':'"));
            }
            let otherwise = self.ternary()?;
            self.node()?;
            Expr::Ternary(Box::new(condition), Box::new(then), Box::new(otherwise))
        } else {
            condition
        };
        self.depth -= 1;
        Ok(expr)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, ParseError> {
        let Some(ops) = LEVELS.get(level) else {
            return self.power();
        };
        let mut left = self.binary(level + 1)?;
        loop {
            let Some(&(_, op)) = ops
                .iter()
                .find(|(text, _)| matches!(self.peek(), Token::Op(o) if o == text))
            else {
                return Ok(left);
            };
            self.at += 1;
            let right = self.binary(level + 1)?;
            self.node()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn power(&mut self) -> Result<Expr, ParseError> {
        let base = self.unary()?;
        if self.eat("^") {
            self.enter()?;
            let exponent = self.power()?;
            self.depth -= 1;
            self.node()?;
            return Ok(Expr::Binary(
                BinaryOp::Pow,
                Box::new(base),
                Box::new(exponent),
            ));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let op = if self.eat("-") {
            Some(UnaryOp::Neg)
        } else if self.eat("!") {
            Some(UnaryOp::Not)
        } else {
            self.eat("+");
            None
        };
        match op {
            Some(op) => {
                self.enter()?;
                let operand = self.unary()?;
                self.depth -= 1;
                self.node()?;
                Ok(Expr::Unary(op, Box::new(operand)))
            }
            None => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.node()?;
        match self.peek().clone() {
            Token::Num(n) => {
                self.at += 1;
                Ok(Expr::Num(n))
            }
            Token::Op("(") => {
                self.at += 1;
                let inner = self.ternary()?;
                if !self.eat(")") {
                    return Err(self.error("')'"));
                }
                Ok(inner)
            }
            Token::Name(name) => {
                let at = self.position();
                self.at += 1;
                if self.eat("(") {
                    let func = Func::by_name(&name).ok_or(ParseError {
                        position: at,
                        expected: "a function: min, max, abs, clamp, round, sqrt, exists, param"
                            .into(),
                        found: format!("name {name}"),
                    })?;
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.ternary()?);
                            if self.eat(")") {
                                break;
                            }
                            if !self.eat(",") {
                                return Err(self.error("',' or ')'"));
                            }
                        }
                    }
                    let (lo, hi) = func.arity();
                    if args.len() < lo || args.len() > hi {
                        let wanted = if hi == usize::MAX {
                            format!("at least {lo}")
                        } else {
                            lo.to_string()
                        };
                        return Err(ParseError {
                            position: at,
                            expected: format!("{name} with {wanted} arguments"),
                            found: format!("{} arguments", args.len()),
                        });
                    }
                    return Ok(Expr::Call(func, args));
                }
                if name.split('.').any(str::is_empty) {
                    return Err(ParseError {
                        position: at,
                        expected: "a name like M1.current_l1".into(),
                        found: format!("name {name}"),
                    });
                }
                Ok(Expr::Name(name.split('.').map(str::to_string).collect()))
            }
            _ => Err(self.error("a number, a name, '(' , '-' or '!'")),
        }
    }
}

/// Parses a formula.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    if text.len() > MAX_LEN {
        return Err(ParseError {
            position: MAX_LEN,
            expected: format!("a formula of at most {MAX_LEN} characters"),
            found: format!("{} characters", text.len()),
        });
    }
    let mut parser = Parser {
        tokens: tokenize(text)?,
        at: 0,
        depth: 0,
        nodes: 0,
    };
    let expr = parser.ternary()?;
    if *parser.peek() != Token::End {
        return Err(parser.error("an operator or the end"));
    }
    Ok(expr)
}

/// What names stand for when a formula is evaluated.
pub trait Names {
    /// The value of a name, split at dots and in lower case
    /// (`["m1", "current_l1"]`); `None` if there is no such thing.
    fn lookup(&self, path: &[String]) -> Option<f64>;
}

fn truth(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The integer value for the bitwise operators (saturating).
fn as_int(x: f64) -> i64 {
    // `as` saturates and maps NaN to 0: a defined result for any input.
    x as i64
}

/// Evaluates a formula.
pub fn eval(expr: &Expr, names: &dyn Names) -> Result<f64, EvalError> {
    let value = eval_inner(expr, names)?;
    if value.is_nan() {
        return Err(EvalError::NotANumber);
    }
    Ok(value)
}

fn eval_inner(expr: &Expr, names: &dyn Names) -> Result<f64, EvalError> {
    Ok(match expr {
        Expr::Num(n) => *n,
        Expr::Name(path) => names
            .lookup(path)
            .ok_or_else(|| EvalError::UnknownName(path.join(".")))?,
        Expr::Unary(UnaryOp::Neg, x) => -eval_inner(x, names)?,
        Expr::Unary(UnaryOp::Not, x) => truth(eval_inner(x, names)? == 0.0),
        Expr::Ternary(c, a, b) => {
            if eval_inner(c, names)? != 0.0 {
                eval_inner(a, names)?
            } else {
                eval_inner(b, names)?
            }
        }
        Expr::Binary(op, a, b) => {
            let x = eval_inner(a, names)?;
            // Short-circuit logic: the right side may name something absent.
            match op {
                BinaryOp::And if x == 0.0 => return Ok(0.0),
                BinaryOp::Or if x != 0.0 => return Ok(1.0),
                _ => {}
            }
            let y = eval_inner(b, names)?;
            match op {
                BinaryOp::Or | BinaryOp::And => truth(y != 0.0),
                BinaryOp::BitOr => (as_int(x) | as_int(y)) as f64,
                BinaryOp::BitAnd => (as_int(x) & as_int(y)) as f64,
                BinaryOp::Eq => truth(x == y),
                BinaryOp::Ne => truth(x != y),
                BinaryOp::Lt => truth(x < y),
                BinaryOp::Le => truth(x <= y),
                BinaryOp::Gt => truth(x > y),
                BinaryOp::Ge => truth(x >= y),
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div | BinaryOp::Rem if y == 0.0 => return Err(EvalError::DivisionByZero),
                BinaryOp::Div => x / y,
                BinaryOp::Rem => x % y,
                BinaryOp::Pow => x.powf(y),
            }
        }
        Expr::Call(func, args) => call(*func, args, names)?,
    })
}

fn call(func: Func, args: &[Expr], names: &dyn Names) -> Result<f64, EvalError> {
    let arg = |i: usize| args.get(i).map_or(Ok(0.0), |a| eval_inner(a, names));
    Ok(match func {
        Func::Exists => truth(args.first().is_some_and(|a| eval_inner(a, names).is_ok())),
        Func::Min | Func::Max => {
            let mut values = Vec::with_capacity(args.len());
            for a in args {
                values.push(eval_inner(a, names)?);
            }
            let pick = if func == Func::Min {
                f64::min
            } else {
                f64::max
            };
            values.into_iter().reduce(pick).unwrap_or(0.0)
        }
        Func::Abs => arg(0)?.abs(),
        Func::Round => arg(0)?.round(),
        Func::Sqrt => arg(0)?.sqrt(),
        Func::Clamp => {
            let (x, lo, hi) = (arg(0)?, arg(1)?, arg(2)?);
            x.max(lo).min(hi)
        }
        // `param(x)`: the site parameter named by `x` (e.g. `param(max_total_current)`).
        Func::Param => match args.first() {
            Some(Expr::Name(path)) => {
                let mut full = vec!["param".to_string()];
                full.extend(path.iter().cloned());
                names
                    .lookup(&full)
                    .ok_or_else(|| EvalError::UnknownName(format!("param({})", path.join("."))))?
            }
            _ => {
                return Err(EvalError::UnknownName(
                    "param(…) needs a parameter name".into(),
                ))
            }
        },
    })
}
