//! The data framing of RFC 6455 §5, and the echo loop that runs on it.
//!
//! What it does: after the opening handshake, read the client's frames,
//! answer each whole text or binary message with the same message, each
//! ping with a pong, and a close with a close, and fail the connection
//! (RFC 6455 §7.1.7) with the right status code on anything malformed.
//! What it does not: the handshake (see `handshake`), extensions (none is
//! ever negotiated, so every RSV bit must be zero), or closing the socket
//! (the server does that when [`echo`] returns).
//!
//! Memory per connection is bounded up front: one read buffer of
//! [`READ_CHUNK`] bytes, one output batch of about as much, and the message
//! being reassembled, at most the `max_message` bytes [`echo`] is given
//! (`limits::Limits::ws_max_message`, `--max-message`). A frame's length
//! is judged from its header, before any of its payload is read, so a
//! header announcing 2^63 bytes costs nothing.
//!
//! Lengths that are not minimally encoded (5 sent in the 16-bit form, say)
//! are accepted: RFC 6455 §5.2 puts the "minimal number of bytes" rule on
//! the sender, and the value still means one thing and still meets the
//! same size limit. Our own frames always use the minimal form.

use std::io::{self, ErrorKind, Read, Write};

/// How many bytes one `read()` asks for.
pub const READ_CHUNK: usize = 64 * 1024;

/// The output batched before a `write()`: the answers to all the frames of
/// one read go out together, unless they would pass this size.
const OUTPUT_BATCH: usize = READ_CHUNK;

// RFC 6455 §5.2 and §11.8: the opcodes; 0x8 and above are control frames.
pub(crate) const CONTINUATION: u8 = 0x0;
pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PING: u8 = 0x9;
pub(crate) const PONG: u8 = 0xA;

// RFC 6455 §7.4.1: the status codes sockref sends, and the one it reports
// for a close frame that carries none.
pub(crate) const PROTOCOL_ERROR: u16 = 1002;
pub(crate) const NO_STATUS: u16 = 1005;
pub(crate) const INVALID_DATA: u16 = 1007;
pub(crate) const TOO_BIG: u16 = 1009;

/// The longest client frame header: 2 bytes, a 64-bit length, a 4-byte
/// mask (RFC 6455 §5.2).
pub(crate) const MAX_CLIENT_HEAD: usize = 2 + 8 + 4;

/// The longest server frame header: no mask (RFC 6455 §5.1).
pub(crate) const MAX_SERVER_HEAD: usize = 2 + 8;

/// RFC 6455 §5.5: control frame payloads are at most 125 bytes.
pub(crate) const MAX_CONTROL: usize = 125;

/// How an [`echo`] session ended, so the caller can trace why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client started the closing handshake (RFC 6455 §5.5.1) and was
    /// answered with a close carrying the same status code. The code is
    /// the client's, or 1005 (RFC 6455 §7.4.1) if its close had no body.
    Closed(u16),
    /// The client broke the protocol; a close frame carrying this code
    /// (1002, 1007 or 1009) was sent (RFC 6455 §7.1.7).
    Failed(u16),
    /// The client closed the TCP connection without a close frame; nothing
    /// was sent in answer.
    PeerGone,
}

/// The buffers one [`echo`] session works in. A worker may keep one and
/// reuse it for every connection it serves; after a session, at most
/// [`READ_CHUNK`] bytes of message space are kept.
#[derive(Debug, Default)]
pub struct Buffers {
    input: Vec<u8>,
    message: Vec<u8>,
    output: Vec<u8>,
}

impl Buffers {
    /// Empty buffers; [`echo`] allocates what it needs on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Runs the WebSocket echo service on `io` until the client closes, breaks
/// the protocol or goes away.
///
/// `leftover` is what the HTTP layer read past the end of the handshake
/// request; those bytes are the start of the frame stream and are used
/// first. A message (all its fragments together) or frame payload over
/// `max_message` bytes fails the connection with 1009 (RFC 6455 §7.4.1);
/// the message buffer never grows past it. Returns `Err` only for an I/O
/// error of `io`.
pub fn echo<S: Read + Write>(
    io: &mut S,
    leftover: &[u8],
    buffers: &mut Buffers,
    max_message: usize,
) -> io::Result<Ending> {
    let Buffers { input, message, output } = buffers;
    input.resize(READ_CHUNK, 0);
    message.clear();
    message.resize(MAX_SERVER_HEAD, 0);
    output.clear();

    let mut session = Session {
        io,
        output,
        message,
        max_message,
        open: None,
        utf8_ok: 0,
        head: [0; MAX_CLIENT_HEAD],
        head_len: 0,
        frame: None,
        control: [0; MAX_CONTROL],
    };
    let result = session.run(leftover, input);

    // A large message should not stay allocated for the next connection.
    if message.capacity() > READ_CHUNK {
        *message = Vec::new();
    }
    match result {
        Ok(()) => Ok(Ending::PeerGone),
        Err(Stop::End(ending)) => Ok(ending),
        Err(Stop::Io(e)) => Err(e),
    }
}

/// Why the frame loop stops early.
enum Stop {
    End(Ending),
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

/// A frame whose header has been read and checked.
#[derive(Clone, Copy, Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    len: usize,
    /// Payload bytes consumed so far.
    done: usize,
}

struct Session<'a, S> {
    io: &'a mut S,
    /// Frames to send, written once per read (or when full).
    output: &'a mut Vec<u8>,
    /// [`MAX_SERVER_HEAD`] spare bytes, then the unmasked payload of the
    /// open message: the echo's header is written into the spare bytes so
    /// that a large message goes out in one `write()` with no copy.
    message: &'a mut Vec<u8>,
    /// The largest message accepted: the most `message` holds.
    max_message: usize,
    /// The opcode (text or binary) of the message whose frames are being
    /// read, from its first frame until its last (RFC 6455 §5.4).
    open: Option<u8>,
    /// How many payload bytes of the open text message are known to be
    /// whole, valid UTF-8 characters.
    utf8_ok: usize,
    /// The header being read, when it arrives split across reads.
    head: [u8; MAX_CLIENT_HEAD],
    head_len: usize,
    /// The frame whose payload is being read.
    frame: Option<Frame>,
    /// The payload of a control frame.
    control: [u8; MAX_CONTROL],
}

impl<S: Read + Write> Session<'_, S> {
    /// Feeds `leftover`, then each read, answering after each batch;
    /// returns `Ok` at end of file.
    fn run(&mut self, leftover: &[u8], input: &mut [u8]) -> Result<(), Stop> {
        self.feed(leftover)?;
        self.flush()?;
        loop {
            let n = match self.io.read(input) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            self.feed(&input[..n])?;
            self.flush()?;
        }
    }

    /// Consumes all of `data`: whole frames are answered (into the output
    /// batch), a partial one is kept for the next call.
    fn feed(&mut self, mut data: &[u8]) -> Result<(), Stop> {
        loop {
            let mut frame = match self.frame {
                Some(frame) => frame,
                None if data.is_empty() => return Ok(()),
                None => match self.read_head(&mut data)? {
                    Some(frame) => frame,
                    None => return Ok(()),
                },
            };

            let take = (frame.len - frame.done).min(data.len());
            let (bytes, rest) = data.split_at(take);
            data = rest;
            if frame.opcode >= CLOSE {
                let part = &mut self.control[frame.done..frame.done + take];
                part.copy_from_slice(bytes);
                unmask(part, frame.mask, frame.done);
            } else if frame.fin && frame.opcode != CONTINUATION && take == frame.len {
                // The common case, a whole one-frame message in this read:
                // unmask it straight into the output, skipping `message`.
                self.frame = None;
                self.open = None;
                self.echo_whole(&frame, bytes)?;
                continue;
            } else {
                self.gather(&frame, bytes)?;
            }
            frame.done += take;
            if frame.done < frame.len {
                // `data` is used up; the rest of the payload comes later.
                self.frame = Some(frame);
                return Ok(());
            }

            self.frame = None;
            match frame.opcode {
                // RFC 6455 §5.5.2: a pong carries the ping's payload; it may
                // go out between the fragments of a message (§5.4).
                PING => {
                    self.room(MAX_SERVER_HEAD + frame.len)?;
                    put_head(self.output, PONG, frame.len);
                    self.output.extend_from_slice(&self.control[..frame.len]);
                }
                // RFC 6455 §5.5.3: an unsolicited pong needs no answer.
                PONG => {}
                CLOSE => return Err(self.close(frame.len)),
                _ if frame.fin => self.echo_message()?,
                _ => {}
            }
        }
    }

    /// Reads and checks a frame header from `data`, or keeps its first bytes
    /// for the next read. Each rule is checked as soon as the bytes it needs
    /// are here.
    fn read_head(&mut self, data: &mut &[u8]) -> Result<Option<Frame>, Stop> {
        if !self.fill_head(2, data) {
            return Ok(None);
        }
        let [b0, b1] = [self.head[0], self.head[1]];
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        let control = opcode >= CLOSE;
        if !head_is_valid(b0, b1, self.open.is_some()) {
            return Err(self.fail(PROTOCOL_ERROR));
        }

        let size = 2 + extended_len(b1) + 4;
        if !self.fill_head(size, data) {
            return Ok(None);
        }
        self.head_len = 0;
        let head = &self.head[..size];
        let len = payload_len(head);
        let mask = [head[size - 4], head[size - 3], head[size - 2], head[size - 1]];
        // RFC 6455 §5.2: the most significant bit of a 64-bit length is 0.
        if len >> 63 != 0 {
            return Err(self.fail(PROTOCOL_ERROR));
        }
        // RFC 6455 §7.4.1 (1009): judged on the header alone, so a huge
        // length is refused before a byte of its payload is read or stored.
        let so_far = (self.message.len() - MAX_SERVER_HEAD) as u64;
        if !control && so_far + len > self.max_message as u64 {
            return Err(self.fail(TOO_BIG));
        }
        if opcode == TEXT || opcode == BINARY {
            self.open = Some(opcode);
        }
        // Both limits above keep `len` within `max_message`, a usize.
        Ok(Some(Frame { fin, opcode, mask, len: len as usize, done: 0 }))
    }

    /// Moves bytes from `data` into the header until it holds `size`;
    /// false if `data` ran out first.
    fn fill_head(&mut self, size: usize, data: &mut &[u8]) -> bool {
        let take = size.saturating_sub(self.head_len).min(data.len());
        self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
        self.head_len += take;
        *data = &data[take..];
        self.head_len >= size
    }

    /// Answers a one-frame message whose payload is all in `payload`.
    fn echo_whole(&mut self, frame: &Frame, payload: &[u8]) -> Result<(), Stop> {
        self.room(MAX_SERVER_HEAD + payload.len())?;
        let start = self.output.len();
        put_head(self.output, frame.opcode, payload.len());
        let body = self.output.len();
        self.output.extend_from_slice(payload);
        unmask(&mut self.output[body..], frame.mask, 0);
        // RFC 6455 §8.1: a text message is UTF-8, or the connection fails.
        if frame.opcode == TEXT && std::str::from_utf8(&self.output[body..]).is_err() {
            self.output.truncate(start);
            return Err(self.fail(INVALID_DATA));
        }
        Ok(())
    }

    /// Appends a piece of a data frame's payload to the open message.
    fn gather(&mut self, frame: &Frame, bytes: &[u8]) -> Result<(), Stop> {
        let start = self.message.len();
        reserve_capped(self.message, bytes.len(), MAX_SERVER_HEAD + self.max_message);
        self.message.extend_from_slice(bytes);
        unmask(&mut self.message[start..], frame.mask, frame.done);
        if self.open == Some(TEXT) {
            self.check_utf8(false)?;
        }
        Ok(())
    }

    /// RFC 6455 §8.1: fails the connection as soon as the text so far
    /// cannot be the start of valid UTF-8; once the message is `complete`,
    /// a character cut short fails it too. Each byte is checked about once.
    fn check_utf8(&mut self, complete: bool) -> Result<(), Stop> {
        let unchecked = &self.message[MAX_SERVER_HEAD + self.utf8_ok..];
        match std::str::from_utf8(unchecked) {
            Ok(_) => self.utf8_ok += unchecked.len(),
            // `error_len() == None`: only the last character is unfinished.
            Err(e) if e.error_len().is_none() && !complete => self.utf8_ok += e.valid_up_to(),
            Err(_) => return Err(self.fail(INVALID_DATA)),
        }
        Ok(())
    }

    /// Answers the reassembled message (RFC 6455 §5.4) with one frame.
    fn echo_message(&mut self) -> Result<(), Stop> {
        let opcode = self.open.take().unwrap_or(BINARY);
        if opcode == TEXT {
            self.check_utf8(true)?;
        }
        self.utf8_ok = 0;
        let len = self.message.len() - MAX_SERVER_HEAD;
        let (head, head_len) = server_head(opcode, len);
        let at = MAX_SERVER_HEAD - head_len;
        self.message[at..MAX_SERVER_HEAD].copy_from_slice(&head[..head_len]);
        let frame_len = self.message.len() - at;
        self.room(frame_len)?;
        if frame_len > OUTPUT_BATCH {
            self.io.write_all(&self.message[at..])?;
        } else {
            self.output.extend_from_slice(&self.message[at..]);
        }
        self.message.truncate(MAX_SERVER_HEAD);
        Ok(())
    }

    /// Answers the client's close frame, whose body is in `control`
    /// (RFC 6455 §5.5.1), and ends the session.
    fn close(&mut self, len: usize) -> Stop {
        let body = &self.control[..len];
        if len == 0 {
            return self.send_close(None, Ending::Closed(NO_STATUS));
        }
        // RFC 6455 §5.5.1: a body starts with a 2-byte status code...
        if len == 1 {
            return self.fail(PROTOCOL_ERROR);
        }
        let code = u16::from_be_bytes([body[0], body[1]]);
        if !valid_close_code(code) {
            return self.fail(PROTOCOL_ERROR);
        }
        // ...and the rest is a UTF-8 reason (RFC 6455 §5.5.1, §8.1).
        if std::str::from_utf8(&body[2..]).is_err() {
            return self.fail(INVALID_DATA);
        }
        self.send_close(Some(code), Ending::Closed(code))
    }

    /// Fails the connection (RFC 6455 §7.1.7): a close frame with `code`.
    fn fail(&mut self, code: u16) -> Stop {
        self.send_close(Some(code), Ending::Failed(code))
    }

    /// Sends what is batched plus a close frame, then stops with `ending`.
    /// RFC 6455 §5.5.1: nothing is sent after a close frame.
    fn send_close(&mut self, code: Option<u16>, ending: Ending) -> Stop {
        match code {
            Some(code) => {
                put_head(self.output, CLOSE, 2);
                self.output.extend_from_slice(&code.to_be_bytes());
            }
            None => put_head(self.output, CLOSE, 0),
        }
        match self.flush() {
            Ok(()) => Stop::End(ending),
            Err(e) => Stop::Io(e),
        }
    }

    /// Makes room for `n` more output bytes in the batch, writing the batch
    /// out if it would grow past [`OUTPUT_BATCH`].
    fn room(&mut self, n: usize) -> io::Result<()> {
        if self.output.len() + n > OUTPUT_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the batch, if any: one `write()` for many frames.
    fn flush(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            self.io.write_all(self.output)?;
            self.output.clear();
        }
        Ok(())
    }
}

/// Whether the first two bytes of a client frame header keep the rules of
/// RFC 6455 §5, given whether a fragmented message is `open`: shared by
/// the echo loop and by `reader` (chat, Socket.IO), so that both read the
/// same frames the same way.
pub(crate) fn head_is_valid(b0: u8, b1: u8, open: bool) -> bool {
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    let control = opcode >= CLOSE;
    let len7 = b1 & 0x7F;
    // RFC 6455 §5.2: RSV1-3 are zero unless an extension says otherwise,
    // and no extension is negotiated.
    let reserved_bits = b0 & 0x70 != 0;
    // RFC 6455 §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    let known = matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG);
    // RFC 6455 §5.1: every client frame is masked.
    let masked = b1 & 0x80 != 0;
    // RFC 6455 §5.5: control frames are never fragmented and carry at
    // most 125 bytes (so never use the extended lengths).
    let bad_control = control && (!fin || usize::from(len7) > MAX_CONTROL);
    // RFC 6455 §5.4: a continuation continues an open message, and a new
    // message waits until the open one is finished.
    let out_of_order = match opcode {
        CONTINUATION => !open,
        TEXT | BINARY => open,
        _ => false,
    };
    !(reserved_bits || !known || !masked || bad_control || out_of_order)
}

/// Whether a client may send `code` in a close frame: the codes RFC 6455
/// §7.4.1 defines for endpoints to send, the later ones of the IANA
/// registry (§11.7: 1012-1014), and the ranges left to libraries and
/// applications (§7.4.2: 3000-4999). 1004 is reserved, and 1005, 1006 and
/// 1015 "MUST NOT be set as a status code in a Close control frame".
/// RFC 6455 §5.2: how many bytes of extended payload length follow the
/// header's second byte `b1`: 2 for a 7-bit length of 126, 8 for 127.
pub(crate) fn extended_len(b1: u8) -> usize {
    match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

/// RFC 6455 §5.2: the payload length of the frame whose header starts
/// `head`, which holds at least `2 + extended_len(head[1])` bytes.
pub(crate) fn payload_len(head: &[u8]) -> u64 {
    match extended_len(head[1]) {
        0 => u64::from(head[1] & 0x7F),
        2 => u64::from(u16::from_be_bytes([head[2], head[3]])),
        _ => {
            let mut be = [0; 8];
            be.copy_from_slice(&head[2..10]);
            u64::from_be_bytes(be)
        }
    }
}

pub(crate) fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A server frame header, FIN set, unmasked (RFC 6455 §5.1), with the
/// length in its minimal form (RFC 6455 §5.2), and how many bytes it uses.
pub(crate) fn server_head(opcode: u8, len: usize) -> ([u8; MAX_SERVER_HEAD], usize) {
    let mut head = [0; MAX_SERVER_HEAD];
    head[0] = 0x80 | opcode;
    if len <= 125 {
        head[1] = len as u8;
        (head, 2)
    } else if len <= usize::from(u16::MAX) {
        head[1] = 126;
        head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (head, 4)
    } else {
        head[1] = 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (head, 10)
    }
}

pub(crate) fn put_head(out: &mut Vec<u8>, opcode: u8, len: usize) {
    let (head, n) = server_head(opcode, len);
    out.extend_from_slice(&head[..n]);
}

/// RFC 6455 §5.3: payload byte `i` is XORed with mask byte `i mod 4`;
/// `offset` is the index in the payload of `bytes[0]`. Eight bytes at a
/// time, which the compiler turns into wide XORs.
pub(crate) fn unmask(bytes: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = mask;
    m.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut words = bytes.chunks_exact_mut(8);
    for word in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

/// Reserves room for `additional` more bytes, doubling as `Vec` does but
/// never past `limit`, so a message of 1 MiB does not take 2 MiB.
fn reserve_capped(v: &mut Vec<u8>, additional: usize, limit: usize) {
    let needed = v.len() + additional;
    if needed > v.capacity() {
        let target = (v.capacity() * 2).clamp(needed, limit.max(needed));
        v.reserve_exact(target - v.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// An in-memory client: its bytes come out `chunk` at a time, and what
    /// the server writes is kept, with the number of `write()` calls.
    struct Peer {
        input: Cursor<Vec<u8>>,
        chunk: usize,
        output: Vec<u8>,
        writes: usize,
    }

    impl Read for Peer {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len());
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Peer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// RFC 6455 §5.7's example mask.
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// The limit the tests run under unless they say otherwise.
    const MAX_MESSAGE: usize = crate::limits::DEFAULT_WS_MAX_MESSAGE;

    /// A masked client frame, length in its minimal form.
    fn client(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let b0 = if fin { 0x80 } else { 0 } | opcode;
        let len = payload.len();
        let ext: Vec<u8> = if len <= 125 {
            vec![]
        } else if len <= 0xFFFF {
            (len as u16).to_be_bytes().to_vec()
        } else {
            (len as u64).to_be_bytes().to_vec()
        };
        let len7 = match ext.len() {
            0 => len as u8,
            2 => 126,
            _ => 127,
        };
        raw(b0, len7, &ext, Some(MASK), payload)
    }

    /// Any frame: first byte, 7-bit length field, extended length bytes,
    /// mask (or none), payload (masked here if a mask is given).
    fn raw(b0: u8, len7: u8, ext: &[u8], mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![b0, len7 | if mask.is_some() { 0x80 } else { 0 }];
        f.extend_from_slice(ext);
        let mut body = payload.to_vec();
        if let Some(m) = mask {
            f.extend_from_slice(&m);
            body.iter_mut().enumerate().for_each(|(i, b)| *b ^= m[i % 4]);
        }
        f.extend_from_slice(&body);
        f
    }

    fn text(payload: &[u8]) -> Vec<u8> {
        client(true, TEXT, payload)
    }

    fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(reason);
        client(true, CLOSE, &body)
    }

    /// Splits the server's output into (opcode, payload), checking each
    /// frame is final, unmasked and minimally encoded.
    fn frames(mut out: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !out.is_empty() {
            assert_eq!(out[0] & 0xF0, 0x80, "FIN set, RSV clear");
            assert_eq!(out[1] & 0x80, 0, "server frames are unmasked");
            let (len, head) = match out[1] {
                126 => (usize::from(u16::from_be_bytes([out[2], out[3]])), 4),
                127 => {
                    let mut len = [0; 8];
                    len.copy_from_slice(&out[2..10]);
                    (u64::from_be_bytes(len) as usize, 10)
                }
                n => (usize::from(n), 2),
            };
            assert_eq!(server_head(0, len).1, head, "minimal length");
            frames.push((out[0] & 0x0F, out[head..head + len].to_vec()));
            out = &out[head + len..];
        }
        frames
    }

    struct Run {
        ending: Ending,
        frames: Vec<(u8, Vec<u8>)>,
        output: Vec<u8>,
        writes: usize,
    }

    fn run_with(leftover: &[u8], input: &[u8], chunk: usize) -> Run {
        let mut peer =
            Peer { input: Cursor::new(input.to_vec()), chunk, output: Vec::new(), writes: 0 };
        let ending = match echo(&mut peer, leftover, &mut Buffers::new(), MAX_MESSAGE) {
            Ok(ending) => ending,
            Err(err) => panic!(
                "echo failed on {} + {} bytes (starting {:02x?}) in chunks of {chunk}: {err:?}",
                leftover.len(),
                input.len(),
                &input[..input.len().min(16)]
            ),
        };
        Run { ending, frames: frames(&peer.output), output: peer.output, writes: peer.writes }
    }

    fn run(input: &[u8]) -> Run {
        run_with(b"", input, READ_CHUNK)
    }

    /// Asserts `input` fails the connection with `code` and nothing else.
    fn fails_with(input: &[u8], code: u16) {
        for chunk in [1, READ_CHUNK] {
            let r = run_with(b"", input, chunk);
            assert_eq!(r.ending, Ending::Failed(code), "{input:02x?}");
            assert_eq!(r.frames, [(CLOSE, code.to_be_bytes().to_vec())], "{input:02x?}");
        }
    }

    #[test]
    fn echoes_the_rfc6455_masked_hello() {
        // RFC 6455 §5.7: a masked "Hello" from the client, unmasked back.
        let hello = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let r = run(&hello);
        assert_eq!(r.output, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(r.ending, Ending::PeerGone);
    }

    #[test]
    fn echoes_binary_with_the_binary_opcode() {
        let bytes: Vec<u8> = (0..=255).collect();
        let r = run(&client(true, BINARY, &bytes));
        assert_eq!(r.frames, [(BINARY, bytes)]);
    }

    #[test]
    fn echoes_empty_messages() {
        let mut input = text(b"");
        input.extend(client(true, BINARY, b""));
        assert_eq!(run(&input).frames, [(TEXT, vec![]), (BINARY, vec![])]);
    }

    #[test]
    fn reassembles_fragments_and_answers_a_ping_between_them() {
        let mut input = client(false, TEXT, b"Hel");
        input.extend(client(true, PING, b"are you there"));
        input.extend(client(false, CONTINUATION, b""));
        input.extend(client(true, CONTINUATION, b"lo"));
        input.extend(text(b"again"));
        let r = run(&input);
        let expected = [
            (PONG, b"are you there".to_vec()),
            (TEXT, b"Hello".to_vec()),
            (TEXT, b"again".to_vec()),
        ];
        assert_eq!(r.frames, expected);
    }

    #[test]
    fn ignores_pongs() {
        let mut input = client(true, PONG, b"unsolicited");
        input.extend(text(b"x"));
        assert_eq!(run(&input).frames, [(TEXT, b"x".to_vec())]);
    }

    /// A session of every kind of frame, for the chunking tests.
    fn mixed_session() -> Vec<u8> {
        let mut input = text("héllo wörld".as_bytes());
        input.extend(client(true, BINARY, &[7; 300]));
        input.extend(client(false, TEXT, "a€".as_bytes().split_at(2).0));
        input.extend(client(true, PING, b"p"));
        input.extend(client(true, CONTINUATION, "a€".as_bytes().split_at(2).1));
        input.extend(client(false, BINARY, &[1; 70_000]));
        input.extend(client(true, CONTINUATION, &[2; 10]));
        input.extend(client(true, BINARY, &[3; 65_536]));
        input.extend(close_frame(1000, b"bye"));
        input
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_answer() {
        let input = mixed_session();
        let whole = run(&input);
        assert_eq!(whole.ending, Ending::Closed(1000));
        let sent: Vec<u8> = whole.frames.iter().map(|f| f.0).collect();
        assert_eq!(sent, [TEXT, BINARY, PONG, TEXT, BINARY, BINARY, CLOSE]);
        assert_eq!(whole.frames[3].1, "a€".as_bytes());
        assert_eq!(whole.frames[4].1.len(), 70_010);
        for chunk in [1, 2, 3, 5, 13, 127, 4096] {
            let r = run_with(b"", &input, chunk);
            assert_eq!(r.ending, whole.ending, "chunk {chunk}");
            assert!(r.output == whole.output, "chunk {chunk}");
        }
        // The same when the first bytes come as the handshake's leftover.
        for split in [1, 17, 400, input.len() - 1, input.len()] {
            let r = run_with(&input[..split], &input[split..], 1000);
            assert!(r.output == whole.output, "leftover of {split}");
        }
    }

    #[test]
    fn frames_from_one_read_are_answered_in_one_write() {
        let mut input = Vec::new();
        for i in 0..50u8 {
            input.extend(text(&[b'a' + i % 26; 20]));
            input.extend(client(true, PING, &[i]));
        }
        let r = run(&input);
        assert_eq!(r.frames.len(), 100);
        assert_eq!(r.writes, 1);
    }

    #[test]
    fn a_large_message_goes_out_in_one_write_of_its_own() {
        let payload: Vec<u8> = (0..MAX_MESSAGE).map(|i| (i % 251) as u8).collect();
        let mut input = text(b"before");
        input.extend(client(false, BINARY, &payload[..1000]));
        input.extend(client(true, CONTINUATION, &payload[1000..]));
        let r = run(&input);
        assert_eq!(r.frames, [(TEXT, b"before".to_vec()), (BINARY, payload)]);
        assert!(r.writes <= 3, "{} writes", r.writes);
    }

    #[test]
    fn sixteen_and_sixty_four_bit_lengths() {
        for len in [125, 126, 300, 65_535, 65_536, 200_000, MAX_MESSAGE] {
            let payload = vec![b'z'; len];
            let r = run(&client(true, BINARY, &payload));
            assert_eq!(r.frames, [(BINARY, payload)], "length {len}");
        }
    }

    #[test]
    fn accepts_lengths_that_are_not_minimally_encoded() {
        let in_16 = raw(0x82, 126, &[0, 5], Some(MASK), b"12345");
        let in_64 = raw(0x82, 127, &[0, 0, 0, 0, 0, 0, 0, 5], Some(MASK), b"12345");
        for input in [in_16, in_64] {
            let r = run(&input);
            assert_eq!(r.output, b"\x82\x0512345");
        }
    }

    #[test]
    fn a_64_bit_length_with_its_top_bit_set_is_a_protocol_error() {
        let ext = [0x80, 0, 0, 0, 0, 0, 0, 1];
        fails_with(&raw(0x82, 127, &ext, Some(MASK), b""), PROTOCOL_ERROR);
    }

    #[test]
    fn too_big_is_judged_from_the_header_alone() {
        // 2^62 bytes announced, none sent: refused at once, nothing stored.
        let ext = (1u64 << 62).to_be_bytes();
        fails_with(&raw(0x82, 127, &ext, Some(MASK), b""), TOO_BIG);
        let ext = (MAX_MESSAGE as u64 + 1).to_be_bytes();
        fails_with(&raw(0x81, 127, &ext, Some(MASK), b""), TOO_BIG);
    }

    #[test]
    fn too_big_counts_every_fragment_of_the_message() {
        let mut input = client(false, BINARY, &vec![0; MAX_MESSAGE - 10]);
        input.extend(client(false, CONTINUATION, &[0; 10]));
        let ext = 1u16.to_be_bytes();
        input.extend(raw(0x80, 126, &ext, Some(MASK), b""));
        fails_with(&input, TOO_BIG);
    }

    /// `max_message` is the limit in force, for whole messages and for
    /// fragmented ones, and the most the message buffer ever holds.
    #[test]
    fn max_message_bounds_the_message_and_its_buffer() -> Result<(), Box<dyn std::error::Error>> {
        let max = 50_000;
        let session = |input: Vec<u8>, buffers: &mut Buffers| -> io::Result<(Ending, Vec<u8>)> {
            let mut peer =
                Peer { input: Cursor::new(input), chunk: 4096, output: Vec::new(), writes: 0 };
            Ok((echo(&mut peer, b"", buffers, max)?, peer.output))
        };
        let mut buffers = Buffers::new();
        // Exactly the limit, in fragments: echoed whole.
        let mut input = client(false, BINARY, &[5; 20_000]);
        input.extend(client(false, CONTINUATION, &[6; 20_000]));
        input.extend(client(true, CONTINUATION, &[7; 10_000]));
        let (ending, output) = session(input, &mut buffers)?;
        assert_eq!(ending, Ending::PeerGone);
        let echoed = frames(&output);
        assert_eq!(echoed.len(), 1);
        assert_eq!((echoed[0].0, echoed[0].1.len()), (BINARY, max));
        assert!(buffers.message.capacity() <= MAX_SERVER_HEAD + max);
        // One byte more, in a third fragment: 1009, before its payload.
        let mut input = client(false, BINARY, &[5; 20_000]);
        input.extend(client(false, CONTINUATION, &[6; 20_000]));
        input.extend(client(true, CONTINUATION, &[7; 10_001]));
        let (ending, output) = session(input, &mut buffers)?;
        assert_eq!(ending, Ending::Failed(TOO_BIG));
        assert_eq!(frames(&output), [(CLOSE, TOO_BIG.to_be_bytes().to_vec())]);
        assert!(buffers.message.capacity() <= MAX_SERVER_HEAD + max);
        // And in one frame.
        let (ending, _) = session(client(true, TEXT, &[b'a'; 50_001]), &mut buffers)?;
        assert_eq!(ending, Ending::Failed(TOO_BIG));
        Ok(())
    }

    #[test]
    fn unmasked_client_frames_are_a_protocol_error() {
        fails_with(&raw(0x81, 5, &[], None, b"Hello"), PROTOCOL_ERROR);
    }

    #[test]
    fn reserved_bits_are_a_protocol_error() {
        for rsv in [0x40, 0x20, 0x10] {
            fails_with(&raw(0x81 | rsv, 1, &[], Some(MASK), b"x"), PROTOCOL_ERROR);
        }
    }

    #[test]
    fn reserved_opcodes_are_a_protocol_error() {
        for opcode in (0x3..=0x7).chain(0xB..=0xF) {
            fails_with(&client(true, opcode, b""), PROTOCOL_ERROR);
        }
    }

    #[test]
    fn fragmented_or_long_control_frames_are_a_protocol_error() {
        fails_with(&client(false, PING, b"x"), PROTOCOL_ERROR);
        fails_with(&client(false, CLOSE, &[3, 232]), PROTOCOL_ERROR);
        fails_with(&client(true, PING, &[0; 126]), PROTOCOL_ERROR);
        fails_with(&client(true, PONG, &[0; 200]), PROTOCOL_ERROR);
        let r = run(&client(true, PING, &[9; 125]));
        assert_eq!(r.frames, [(PONG, vec![9; 125])]);
    }

    #[test]
    fn a_continuation_without_a_message_is_a_protocol_error() {
        fails_with(&client(true, CONTINUATION, b"x"), PROTOCOL_ERROR);
        let mut input = text(b"done");
        input.extend(client(false, CONTINUATION, b"x"));
        let r = run(&input);
        assert_eq!(r.ending, Ending::Failed(PROTOCOL_ERROR));
        assert_eq!(r.frames, [(TEXT, b"done".to_vec()), (CLOSE, vec![3, 234])]);
    }

    #[test]
    fn a_new_message_inside_a_fragmented_one_is_a_protocol_error() {
        for opcode in [TEXT, BINARY] {
            let mut input = client(false, TEXT, b"a");
            input.extend(client(true, opcode, b"b"));
            fails_with(&input, PROTOCOL_ERROR);
        }
    }

    #[test]
    fn invalid_utf8_text_fails_with_1007() {
        fails_with(&text(b"\xff"), INVALID_DATA);
        fails_with(&text(b"ok \xed\xa0\x80 surrogate"), INVALID_DATA);
        // Cut short at the end of the message.
        fails_with(&text("€".as_bytes().split_at(2).0), INVALID_DATA);
        let mut input = client(false, TEXT, "€".as_bytes().split_at(2).0);
        input.extend(client(true, CONTINUATION, b""));
        fails_with(&input, INVALID_DATA);
        // Binary messages are not text.
        assert_eq!(run(&client(true, BINARY, b"\xff")).frames, [(BINARY, b"\xff".to_vec())]);
    }

    #[test]
    fn invalid_utf8_fails_before_the_message_is_finished() {
        // The client never sends the final fragment, or the end of the
        // frame: the bad prefix is enough.
        fails_with(&client(false, TEXT, b"abc\xc0"), INVALID_DATA);
        let mut frame = text(b"abc\xff and more to come");
        frame.truncate(frame.len() - 10);
        fails_with(&frame, INVALID_DATA);
    }

    #[test]
    fn a_character_may_span_fragments() {
        let bytes = "日本".as_bytes();
        let mut input = Vec::new();
        for (i, b) in bytes.iter().enumerate() {
            input.extend(client(i + 1 == bytes.len(), if i == 0 { TEXT } else { 0 }, &[*b]));
        }
        assert_eq!(run(&input).frames, [(TEXT, bytes.to_vec())]);
    }

    #[test]
    fn a_close_is_answered_with_its_status_code() {
        let r = run(&close_frame(1000, b"bye"));
        assert_eq!(r.ending, Ending::Closed(1000));
        assert_eq!(r.output, [0x88, 0x02, 0x03, 0xe8]);
        for code in [1001, 1003, 1007, 1011, 1014, 3000, 4999] {
            let r = run(&close_frame(code, b""));
            assert_eq!(r.ending, Ending::Closed(code));
            assert_eq!(r.frames, [(CLOSE, code.to_be_bytes().to_vec())]);
        }
    }

    #[test]
    fn an_empty_close_gets_an_empty_close() {
        let r = run(&client(true, CLOSE, b""));
        assert_eq!(r.ending, Ending::Closed(NO_STATUS));
        assert_eq!(r.output, [0x88, 0x00]);
    }

    #[test]
    fn nothing_after_a_close_is_read_or_answered() {
        let mut input = close_frame(1000, b"");
        input.extend(text(b"too late"));
        let r = run(&input);
        assert_eq!(r.frames, [(CLOSE, vec![3, 232])]);
    }

    #[test]
    fn a_close_in_the_middle_of_a_message_drops_the_message() {
        let mut input = client(false, TEXT, b"half");
        input.extend(close_frame(1001, b""));
        let r = run(&input);
        assert_eq!(r.ending, Ending::Closed(1001));
        assert_eq!(r.frames, [(CLOSE, vec![3, 233])]);
    }

    #[test]
    fn a_malformed_close_fails_the_connection() {
        fails_with(&client(true, CLOSE, &[3]), PROTOCOL_ERROR);
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, u16::MAX] {
            fails_with(&close_frame(code, b""), PROTOCOL_ERROR);
        }
        fails_with(&close_frame(1000, b"\xff"), INVALID_DATA);
    }

    #[test]
    fn end_of_file_mid_stream_sends_nothing() {
        let frame = text(b"Hello");
        for cut in [1, 2, 5, frame.len() - 1] {
            let r = run(&frame[..cut]);
            assert_eq!(r.ending, Ending::PeerGone, "cut at {cut}");
            assert!(r.output.is_empty());
        }
        let r = run(&client(false, BINARY, b"first half"));
        assert_eq!(r.ending, Ending::PeerGone);
        assert!(r.output.is_empty());
    }

    #[test]
    fn buffers_can_be_reused_and_let_big_messages_go() -> Result<(), Box<dyn std::error::Error>> {
        let mut buffers = Buffers::new();
        for _ in 0..2 {
            let input = client(false, BINARY, &vec![1; MAX_MESSAGE]);
            let mut peer =
                Peer { input: Cursor::new(input), chunk: 7000, output: Vec::new(), writes: 0 };
            assert_eq!(echo(&mut peer, b"", &mut buffers, MAX_MESSAGE)?, Ending::PeerGone);
            assert!(buffers.message.capacity() <= READ_CHUNK);
        }
        Ok(())
    }

    #[test]
    fn the_message_buffer_never_grows_past_its_limit() {
        let mut v = vec![0; MAX_SERVER_HEAD];
        for piece in [1, 1000, 70_000, MAX_MESSAGE - 71_001] {
            reserve_capped(&mut v, piece, MAX_SERVER_HEAD + MAX_MESSAGE);
            v.resize(v.len() + piece, 0);
        }
        assert_eq!(v.len(), MAX_SERVER_HEAD + MAX_MESSAGE);
        assert_eq!(v.capacity(), MAX_SERVER_HEAD + MAX_MESSAGE);
    }

    #[test]
    fn unmasking_at_any_offset_matches_the_byte_rule() {
        let plain: Vec<u8> = (0..100).collect();
        for offset in 0..8 {
            let mut masked: Vec<u8> =
                plain.iter().enumerate().map(|(i, b)| b ^ MASK[(i + offset) % 4]).collect();
            unmask(&mut masked, MASK, offset);
            assert_eq!(masked, plain, "offset {offset}");
        }
    }
}
