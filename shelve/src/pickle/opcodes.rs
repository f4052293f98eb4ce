//! The pickle opcode table (pickle spec §1.2, generated from `pickletools.opcodes`).

/// How an opcode's inline argument is encoded (pickletools' `ArgumentDescriptor` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// No argument.
    None,
    /// 1-byte unsigned.
    Uint1,
    /// 2-byte little-endian unsigned.
    Uint2,
    /// 4-byte little-endian unsigned.
    Uint4,
    /// 8-byte little-endian unsigned.
    Uint8,
    /// 4-byte little-endian signed.
    Int4,
    /// Decimal line, `00`/`01` are bools.
    DecimalnlShort,
    /// Decimal line with optional trailing `L`.
    DecimalnlLong,
    /// `repr(float)` line.
    Floatnl,
    /// 8-byte big-endian IEEE double.
    Float8,
    /// Quoted, escaped Python-2 string line.
    Stringnl,
    /// Raw line.
    StringnlNoescape,
    /// Two raw lines.
    StringnlNoescapePair,
    /// u8 length + latin-1 bytes.
    String1,
    /// int4 length + latin-1 bytes.
    String4,
    /// u8 length + bytes.
    Bytes1,
    /// u32 length + bytes.
    Bytes4,
    /// u64 length + bytes.
    Bytes8,
    /// u64 length + bytes, as a bytearray.
    Bytearray8,
    /// raw-unicode-escape line.
    Unicodestringnl,
    /// u8 length + UTF-8.
    Unicodestring1,
    /// u32 length + UTF-8.
    Unicodestring4,
    /// u64 length + UTF-8.
    Unicodestring8,
    /// u8 length + two's-complement bytes.
    Long1,
    /// int4 length + two's-complement bytes.
    Long4,
}

/// One opcode: its byte, name, argument, protocol and stack effect (as pickletools models it).
#[derive(Debug, Clone, Copy)]
pub struct OpInfo {
    /// The opcode byte.
    pub code: u8,
    /// pickletools' name.
    pub name: &'static str,
    /// The inline argument.
    pub arg: Arg,
    /// The protocol that introduced it.
    pub proto: u8,
    /// Stack items consumed (not counting a mark and its slice).
    pub pops: u8,
    /// When the opcode pops to a mark: pickletools' `before.index(markobject)`.
    pub mark_index: Option<u8>,
    /// Stack items produced, by pickletools' type names (`mark` for MARK).
    pub after: &'static [&'static str],
}

macro_rules! op {
    ($code:expr, $name:expr, $arg:ident, $proto:expr, $pops:expr, $mark:expr, [$($after:expr),*]) => {
        OpInfo { code: $code, name: $name, arg: Arg::$arg, proto: $proto, pops: $pops, mark_index: $mark, after: &[$($after),*] }
    };
}

/// Every opcode of protocols 0–5, in pickletools' order.
pub const OPCODES: &[OpInfo] = &[
    op!(b'I', "INT", DecimalnlShort, 0, 0, None, ["int_or_bool"]),
    op!(b'J', "BININT", Int4, 1, 0, None, ["int"]),
    op!(b'K', "BININT1", Uint1, 1, 0, None, ["int"]),
    op!(b'M', "BININT2", Uint2, 1, 0, None, ["int"]),
    op!(b'L', "LONG", DecimalnlLong, 0, 0, None, ["int"]),
    op!(0x8a, "LONG1", Long1, 2, 0, None, ["int"]),
    op!(0x8b, "LONG4", Long4, 2, 0, None, ["int"]),
    op!(b'S', "STRING", Stringnl, 0, 0, None, ["bytes_or_str"]),
    op!(b'T', "BINSTRING", String4, 1, 0, None, ["bytes_or_str"]),
    op!(
        b'U',
        "SHORT_BINSTRING",
        String1,
        1,
        0,
        None,
        ["bytes_or_str"]
    ),
    op!(b'B', "BINBYTES", Bytes4, 3, 0, None, ["bytes"]),
    op!(b'C', "SHORT_BINBYTES", Bytes1, 3, 0, None, ["bytes"]),
    op!(0x8e, "BINBYTES8", Bytes8, 4, 0, None, ["bytes"]),
    op!(0x96, "BYTEARRAY8", Bytearray8, 5, 0, None, ["bytearray"]),
    op!(0x97, "NEXT_BUFFER", None, 5, 0, None, ["buffer"]),
    op!(0x98, "READONLY_BUFFER", None, 5, 1, None, ["buffer"]),
    op!(b'N', "NONE", None, 0, 0, None, ["None"]),
    op!(0x88, "NEWTRUE", None, 2, 0, None, ["bool"]),
    op!(0x89, "NEWFALSE", None, 2, 0, None, ["bool"]),
    op!(b'V', "UNICODE", Unicodestringnl, 0, 0, None, ["str"]),
    op!(
        0x8c,
        "SHORT_BINUNICODE",
        Unicodestring1,
        4,
        0,
        None,
        ["str"]
    ),
    op!(b'X', "BINUNICODE", Unicodestring4, 1, 0, None, ["str"]),
    op!(0x8d, "BINUNICODE8", Unicodestring8, 4, 0, None, ["str"]),
    op!(b'F', "FLOAT", Floatnl, 0, 0, None, ["float"]),
    op!(b'G', "BINFLOAT", Float8, 1, 0, None, ["float"]),
    op!(b']', "EMPTY_LIST", None, 1, 0, None, ["list"]),
    op!(b'a', "APPEND", None, 0, 2, None, ["list"]),
    op!(b'e', "APPENDS", None, 1, 1, Some(1), ["list"]),
    op!(b'l', "LIST", None, 0, 0, Some(0), ["list"]),
    op!(b')', "EMPTY_TUPLE", None, 1, 0, None, ["tuple"]),
    op!(b't', "TUPLE", None, 0, 0, Some(0), ["tuple"]),
    op!(0x85, "TUPLE1", None, 2, 1, None, ["tuple"]),
    op!(0x86, "TUPLE2", None, 2, 2, None, ["tuple"]),
    op!(0x87, "TUPLE3", None, 2, 3, None, ["tuple"]),
    op!(b'}', "EMPTY_DICT", None, 1, 0, None, ["dict"]),
    op!(b'd', "DICT", None, 0, 0, Some(0), ["dict"]),
    op!(b's', "SETITEM", None, 0, 3, None, ["dict"]),
    op!(b'u', "SETITEMS", None, 1, 1, Some(1), ["dict"]),
    op!(0x8f, "EMPTY_SET", None, 4, 0, None, ["set"]),
    op!(0x90, "ADDITEMS", None, 4, 1, Some(1), ["set"]),
    op!(0x91, "FROZENSET", None, 4, 0, Some(0), ["frozenset"]),
    op!(b'0', "POP", None, 0, 1, None, []),
    op!(b'2', "DUP", None, 0, 1, None, ["any", "any"]),
    op!(b'(', "MARK", None, 0, 0, None, ["mark"]),
    op!(b'1', "POP_MARK", None, 1, 0, Some(0), []),
    op!(b'g', "GET", DecimalnlShort, 0, 0, None, ["any"]),
    op!(b'h', "BINGET", Uint1, 1, 0, None, ["any"]),
    op!(b'j', "LONG_BINGET", Uint4, 1, 0, None, ["any"]),
    op!(b'p', "PUT", DecimalnlShort, 0, 0, None, []),
    op!(b'q', "BINPUT", Uint1, 1, 0, None, []),
    op!(b'r', "LONG_BINPUT", Uint4, 1, 0, None, []),
    op!(0x94, "MEMOIZE", None, 4, 1, None, ["any"]),
    op!(0x82, "EXT1", Uint1, 2, 0, None, ["any"]),
    op!(0x83, "EXT2", Uint2, 2, 0, None, ["any"]),
    op!(0x84, "EXT4", Int4, 2, 0, None, ["any"]),
    op!(b'c', "GLOBAL", StringnlNoescapePair, 0, 0, None, ["any"]),
    op!(0x93, "STACK_GLOBAL", None, 4, 2, None, ["any"]),
    op!(b'R', "REDUCE", None, 0, 2, None, ["any"]),
    op!(b'b', "BUILD", None, 0, 2, None, ["any"]),
    op!(b'i', "INST", StringnlNoescapePair, 0, 0, Some(0), ["any"]),
    op!(b'o', "OBJ", None, 1, 0, Some(0), ["any"]),
    op!(0x81, "NEWOBJ", None, 2, 2, None, ["any"]),
    op!(0x92, "NEWOBJ_EX", None, 4, 3, None, ["any"]),
    op!(0x80, "PROTO", Uint1, 2, 0, None, []),
    op!(b'.', "STOP", None, 0, 1, None, []),
    op!(0x95, "FRAME", Uint8, 4, 0, None, []),
    op!(b'P', "PERSID", StringnlNoescape, 0, 0, None, ["any"]),
    op!(b'Q', "BINPERSID", None, 1, 1, None, ["any"]),
];

/// The opcode for a byte, if it is one.
pub fn lookup(code: u8) -> Option<&'static OpInfo> {
    static TABLE: std::sync::OnceLock<[Option<u8>; 256]> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [None; 256];
        for (i, op) in OPCODES.iter().enumerate() {
            // OPCODES has fewer than 256 entries, so the index fits a u8.
            t[op.code as usize] = Some(i as u8);
        }
        t
    });
    t[code as usize].map(|i| &OPCODES[i as usize])
}

/// Opcode bytes used by the pickler and unpickler.
#[allow(missing_docs)]
pub mod code {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}
