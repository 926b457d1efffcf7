//! The two packet layers inside a WebSocket text message: Engine.IO v4
//! (engine.io-protocol, "Protocol" and "Packet encoding: WebSocket") and,
//! inside an Engine.IO `message`, Socket.IO v5 (socket.io-protocol,
//! "Exchange protocol" and "Packet encoding: Format"). Pure functions over
//! text; what to do with a packet is `socketio`'s.

/// Why a packet is malformed.
pub type Bad = &'static str;

/// An Engine.IO packet a client sends over WebSocket: the packet type is
/// the first character (engine.io-protocol, "Protocol": the table of
/// packet types), and one packet is one frame ("Packet encoding").
#[derive(Debug, PartialEq, Eq)]
pub enum Engine<'a> {
    /// `1`: the client closes the transport.
    Close,
    /// `2` and its data: a ping (v4's client does not send them, but one
    /// costs a pong).
    Ping(&'a str),
    /// `3`: the answer to the server's heartbeat ("Heartbeat").
    Pong,
    /// `4`: a message; its data is a Socket.IO packet.
    Message(&'a str),
}

/// Parses one Engine.IO packet. `0` (open) is the server's to send, and
/// `5`/`6` (upgrade, noop) belong to an upgrade from polling, which this
/// server never offers (its open packet lists no upgrades).
pub fn engine(text: &str) -> Result<Engine<'_>, Bad> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or("empty Engine.IO packet")?;
    let data = chars.as_str();
    match kind {
        '1' => Ok(Engine::Close),
        '2' => Ok(Engine::Ping(data)),
        '3' => Ok(Engine::Pong),
        '4' => Ok(Engine::Message(data)),
        '0' => Err("Engine.IO open (0) is the server's packet"),
        '5' | '6' => Err("Engine.IO upgrade/noop: no upgrade was offered"),
        _ => Err("unknown Engine.IO packet type"),
    }
}

/// The Socket.IO packet types (socket.io-protocol, "Exchange protocol").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 0: connect to a namespace.
    Connect,
    /// 1: leave a namespace.
    Disconnect,
    /// 2: an event, `["name", args...]`.
    Event,
    /// 3: the answer to an event that asked for one.
    Ack,
    /// 4: a refused connect (the server's to send).
    ConnectError,
    /// 5: an event with binary attachments, sent as frames of their own.
    BinaryEvent,
    /// 6: an ack with binary attachments.
    BinaryAck,
}

/// One Socket.IO packet: `<type>[<attachments>-][<namespace>,][<ack id>][JSON]`
/// (socket.io-protocol, "Packet encoding: Format").
#[derive(Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The packet type.
    pub kind: Kind,
    /// The namespace, `/` when none is written.
    pub namespace: &'a str,
    /// The acknowledgement id, if the sender asked for one.
    pub ack: Option<u64>,
    /// The JSON payload, not yet checked; may be empty.
    pub data: &'a str,
}

/// Longest ack id accepted, in digits: any fits a u64.
const MAX_ACK_DIGITS: usize = 18;

/// Parses a Socket.IO packet (the data of an Engine.IO `message`).
pub fn socket(text: &str) -> Result<Packet<'_>, Bad> {
    let bytes = text.as_bytes();
    let kind = match bytes.first() {
        Some(b'0') => Kind::Connect,
        Some(b'1') => Kind::Disconnect,
        Some(b'2') => Kind::Event,
        Some(b'3') => Kind::Ack,
        Some(b'4') => Kind::ConnectError,
        Some(b'5') => Kind::BinaryEvent,
        Some(b'6') => Kind::BinaryAck,
        Some(_) => return Err("unknown Socket.IO packet type"),
        None => return Err("empty Socket.IO packet"),
    };
    let mut i = 1;
    // "<# of binary attachments>-", for the binary types only.
    if matches!(kind, Kind::BinaryEvent | Kind::BinaryAck) {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || bytes.get(i + digits) != Some(&b'-') {
            return Err("binary packet without its attachment count");
        }
        i += digits + 1;
    }
    // "<namespace>,": only written when it is not the main one, "/".
    let mut namespace = "/";
    if bytes.get(i) == Some(&b'/') {
        let end = bytes[i..].iter().position(|&b| b == b',').map_or(bytes.len(), |n| i + n);
        namespace = &text[i..end];
        i = (end + 1).min(bytes.len());
    }
    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let ack = match digits {
        0 => None,
        n if n > MAX_ACK_DIGITS => return Err("ack id too long"),
        // At most 18 ASCII digits: always a u64.
        n => text[i..i + n].parse().ok(),
    };
    i += digits;
    Ok(Packet { kind, namespace, ack, data: &text[i..] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kind: Kind, namespace: &str, ack: Option<u64>, data: &str) -> Packet<'static> {
        let (namespace, data) = (namespace.to_string().leak(), data.to_string().leak());
        Packet { kind, namespace, ack, data }
    }

    #[test]
    fn the_protocol_documents_examples() {
        // socket.io-protocol, "Packet encoding: Examples".
        assert_eq!(socket("0"), Ok(p(Kind::Connect, "/", None, "")));
        let sid = r#"{"sid":"oSO0OpakMV_3jnilAAAA"}"#;
        assert_eq!(socket(&format!("0/admin,{sid}")), Ok(p(Kind::Connect, "/admin", None, sid)));
        assert_eq!(socket(r#"2["foo"]"#), Ok(p(Kind::Event, "/", None, r#"["foo"]"#)));
        assert_eq!(socket(r#"2/admin,["bar"]"#), Ok(p(Kind::Event, "/admin", None, r#"["bar"]"#)));
        assert_eq!(socket(r#"212["foo"]"#), Ok(p(Kind::Event, "/", Some(12), r#"["foo"]"#)));
        assert_eq!(
            socket(r#"3/admin,13["bar"]"#),
            Ok(p(Kind::Ack, "/admin", Some(13), r#"["bar"]"#))
        );
        assert_eq!(socket("1/admin,"), Ok(p(Kind::Disconnect, "/admin", None, "")));
        let binary = r#"51-["baz",{"_placeholder":true,"num":0}]"#;
        assert_eq!(socket(binary).map(|p| p.kind), Ok(Kind::BinaryEvent));
        let binary_ack = r#"61-15["bar",{"_placeholder":true,"num":0}]"#;
        assert_eq!(socket(binary_ack).map(|p| p.ack), Ok(Some(15)));
        // engine.io-protocol, "Packet encoding: WebSocket".
        assert_eq!(engine("4hello"), Ok(Engine::Message("hello")));
        assert_eq!(engine("3"), Ok(Engine::Pong));
        assert_eq!(engine("2probe"), Ok(Engine::Ping("probe")));
        assert_eq!(engine("1"), Ok(Engine::Close));
    }

    #[test]
    fn malformed_packets_are_refused() {
        for bad in ["", "0{}", "5", "6", "9", "x"] {
            assert!(engine(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "7", "x", "5[]", "5-[]", "51[]", "21234567890123456789[\"e\"]"] {
            assert!(socket(bad).is_err(), "{bad:?}");
        }
    }
}
