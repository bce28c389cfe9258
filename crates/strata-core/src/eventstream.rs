//! Bedrock's binary event-stream framing (`application/vnd.amazon.eventstream`).
//!
//! Frames are written and read with `aws-smithy-eventstream`; this module only knows which
//! headers Bedrock puts on its events and exceptions.

use aws_smithy_eventstream::frame::{write_message_to, DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Bytes, BytesMut};

/// The content type of an event-stream response.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// A frame that could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("event-stream framing error: {0}")]
pub struct FrameError(String);

/// Encodes one `:message-type: event` frame whose payload is JSON.
pub fn event_frame(event_type: &str, json_payload: impl Into<Bytes>) -> Result<Bytes, FrameError> {
    typed_event_frame(event_type, "application/json", json_payload)
}

/// Encodes one `:message-type: event` frame whose payload is of `content_type` (SageMaker's
/// `PayloadPart` carries bytes, not JSON).
pub fn typed_event_frame(event_type: &str, content_type: &str, payload: impl Into<Bytes>) -> Result<Bytes, FrameError> {
    let message = Message::new_from_parts(
        vec![
            Header::new(":event-type", HeaderValue::String(event_type.to_string().into())),
            Header::new(":content-type", HeaderValue::String(content_type.to_string().into())),
            Header::new(":message-type", HeaderValue::String("event".into())),
        ],
        payload,
    );
    encode(&message)
}

/// Encodes one `:message-type: exception` frame (`exception_type` is lowerCamel, e.g.
/// `modelStreamErrorException`).
pub fn exception_frame(exception_type: &str, json_payload: impl Into<Bytes>) -> Result<Bytes, FrameError> {
    let message = Message::new_from_parts(
        vec![
            Header::new(
                ":exception-type",
                HeaderValue::String(exception_type.to_string().into()),
            ),
            Header::new(":content-type", HeaderValue::String("application/json".into())),
            Header::new(":message-type", HeaderValue::String("exception".into())),
        ],
        json_payload,
    );
    encode(&message)
}

fn encode(message: &Message) -> Result<Bytes, FrameError> {
    let mut buf = BytesMut::with_capacity(message.payload().len() + 128);
    write_message_to(message, &mut buf).map_err(|e| FrameError(e.to_string()))?;
    Ok(buf.freeze())
}

/// One decoded frame, reduced to what Bedrock's streams carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFrame {
    /// `:message-type: event` with its `:event-type`.
    Event { event_type: String, payload: Bytes },
    /// `:message-type: exception` with its `:exception-type`.
    Exception { exception_type: String, payload: Bytes },
    /// `:message-type: error` (`:error-code`, `:error-message`).
    Error { code: String, message: String },
}

/// Incremental decoder: feed it bytes as they arrive, take frames out.
#[derive(Debug, Default)]
pub struct FrameReader {
    decoder: MessageFrameDecoder,
    pending: BytesMut,
}

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<StreamFrame>, FrameError> {
        match self
            .decoder
            .decode_frame(&mut self.pending)
            .map_err(|e| FrameError(e.to_string()))?
        {
            DecodedFrame::Incomplete => Ok(None),
            DecodedFrame::Complete(message) => classify(message).map(Some),
        }
    }

    /// True when no partial frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Shortest possible frame: prelude (12 bytes) and message CRC (4), no headers or payload.
const MIN_FRAME: usize = 16;
/// Longest frame accepted (Bedrock's events are far smaller; a larger length is corruption).
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Splits a byte stream at frame boundaries: each push hands back the whole frames received so
/// far as one `Bytes` (the same memory as the chunk when it held only whole frames, so a relay
/// writes what it read) together with each frame decoded. A partial frame waits for the next
/// push.
#[derive(Debug, Default)]
pub struct FrameSplitter {
    pending: BytesMut,
}

impl FrameSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chunk; returns the whole frames now complete (possibly none) and their decoding.
    pub fn push(&mut self, chunk: Bytes) -> Result<(Bytes, Vec<StreamFrame>), FrameError> {
        let whole = self.push_whole(chunk)?;
        let mut frames = Vec::new();
        let mut at = 0;
        for frame in frames_in(&whole) {
            frames.push(frame_head(frame)?.to_frame(&whole, at));
            at += frame.len();
        }
        Ok((whole, frames))
    }

    /// Adds a chunk; returns the whole frames now complete (possibly none), undecoded: a relay
    /// that only needs to know what some frames are reads them with [`frame_head`].
    pub fn push_whole(&mut self, chunk: Bytes) -> Result<Bytes, FrameError> {
        let data = if self.pending.is_empty() {
            chunk
        } else {
            self.pending.extend_from_slice(&chunk);
            std::mem::take(&mut self.pending).freeze()
        };
        let mut at = 0;
        while data.len() - at >= 4 {
            let total = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
            if !(MIN_FRAME..=MAX_FRAME).contains(&total) {
                return Err(FrameError(format!("frame length {total} is out of range")));
            }
            if data.len() - at < total {
                break;
            }
            at += total;
        }
        if at < data.len() {
            self.pending.extend_from_slice(&data[at..]);
        }
        Ok(data.slice(..at))
    }

    /// True when no partial frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The frames of bytes that hold only whole frames (as [`FrameSplitter::push_whole`] hands out).
pub fn frames_in(whole: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = whole;
    std::iter::from_fn(move || {
        let len = rest
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)?;
        if len < MIN_FRAME || len > rest.len() {
            return None;
        }
        let (frame, tail) = rest.split_at(len);
        rest = tail;
        Some(frame)
    })
}

/// What one frame is, borrowed from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHead<'a> {
    pub message_type: &'a str,
    pub event_type: Option<&'a str>,
    pub exception_type: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    /// Where the payload lies in the frame.
    pub payload: std::ops::Range<usize>,
}

impl FrameHead<'_> {
    /// The frame decoded, its payload sliced from `whole`, where the frame starts at `offset`.
    pub fn to_frame(&self, whole: &Bytes, offset: usize) -> StreamFrame {
        let payload = whole.slice(offset + self.payload.start..offset + self.payload.end);
        match self.message_type {
            "exception" => StreamFrame::Exception {
                exception_type: self.exception_type.unwrap_or_default().to_string(),
                payload,
            },
            "error" => StreamFrame::Error {
                code: self.error_code.unwrap_or("").to_string(),
                message: self.error_message.unwrap_or("").to_string(),
            },
            _ => StreamFrame::Event {
                event_type: self.event_type.unwrap_or_default().to_string(),
                payload,
            },
        }
    }
}

/// Reads one whole frame's type headers and payload by hand, without checking its CRCs or
/// allocating: frames split off a stream are relayed as received (the client checks the CRCs),
/// and decoding each through `aws-smithy-eventstream` (CRCs, a header `Vec` and strings per
/// frame, for a frame per generated token) showed in the ConverseStream relay's CPU per request
/// (docs/performance.md).
pub fn frame_head(frame: &[u8]) -> Result<FrameHead<'_>, FrameError> {
    let bad = |what: &str| FrameError(format!("malformed frame: {what}"));
    let word = |at: usize| -> Option<usize> {
        let b = frame.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let total = word(0).ok_or_else(|| bad("no prelude"))?;
    let headers_len = word(4).ok_or_else(|| bad("no prelude"))?;
    if total != frame.len() || headers_len > total.saturating_sub(MIN_FRAME) {
        return Err(bad("lengths do not add up"));
    }
    let headers = &frame[12..12 + headers_len];
    let mut head = FrameHead {
        message_type: "event",
        event_type: None,
        exception_type: None,
        error_code: None,
        error_message: None,
        payload: 12 + headers_len..total - 4,
    };
    let mut at = 0;
    while at < headers.len() {
        let name_len = usize::from(headers[at]);
        let name = headers
            .get(at + 1..at + 1 + name_len)
            .ok_or_else(|| bad("header name"))?;
        at += 1 + name_len;
        let kind = *headers.get(at).ok_or_else(|| bad("header type"))?;
        at += 1;
        let fixed = match kind {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            _ => return Err(bad("header value type")),
        };
        let value = match fixed {
            Some(n) => headers.get(at..at + n).ok_or_else(|| bad("header value"))?,
            None => {
                let len = headers.get(at..at + 2).ok_or_else(|| bad("header value length"))?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                at += 2;
                headers.get(at..at + len).ok_or_else(|| bad("header value"))?
            }
        };
        at += value.len();
        if kind != 7 {
            continue;
        }
        let text = || std::str::from_utf8(value).map_err(|_| bad("header value is not UTF-8"));
        match name {
            b":message-type" => head.message_type = text()?,
            b":event-type" => head.event_type = Some(text()?),
            b":exception-type" => head.exception_type = Some(text()?),
            b":error-code" => head.error_code = Some(text()?),
            b":error-message" => head.error_message = Some(text()?),
            _ => {}
        }
    }
    match head.message_type {
        "event" if head.event_type.is_none() => Err(bad("event frame without :event-type")),
        "exception" if head.exception_type.is_none() => Err(bad("exception frame without :exception-type")),
        "event" | "exception" | "error" => Ok(head),
        other => Err(FrameError(format!("unknown :message-type '{other}'"))),
    }
}

fn header_str<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

fn classify(message: Message) -> Result<StreamFrame, FrameError> {
    let message_type = header_str(&message, ":message-type").unwrap_or("event").to_string();
    match message_type.as_str() {
        "event" => Ok(StreamFrame::Event {
            event_type: header_str(&message, ":event-type")
                .ok_or_else(|| FrameError("event frame without :event-type".into()))?
                .to_string(),
            payload: message.payload().clone(),
        }),
        "exception" => Ok(StreamFrame::Exception {
            exception_type: header_str(&message, ":exception-type")
                .ok_or_else(|| FrameError("exception frame without :exception-type".into()))?
                .to_string(),
            payload: message.payload().clone(),
        }),
        "error" => Ok(StreamFrame::Error {
            code: header_str(&message, ":error-code").unwrap_or("").to_string(),
            message: header_str(&message, ":error-message").unwrap_or("").to_string(),
        }),
        other => Err(FrameError(format!("unknown :message-type '{other}'"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_frames_round_trip_even_when_split() {
        let a = event_frame("messageStart", r#"{"role":"assistant"}"#).unwrap();
        let b = exception_frame("throttlingException", r#"{"message":"slow down"}"#).unwrap();
        // prelude: total length = 12 + headers + payload + 4
        let total = u32::from_be_bytes([a[0], a[1], a[2], a[3]]) as usize;
        assert_eq!(total, a.len());
        let mut all = a.to_vec();
        all.extend_from_slice(&b);
        let mut reader = FrameReader::new();
        let mut frames = Vec::new();
        for chunk in all.chunks(7) {
            reader.push(chunk);
            while let Some(f) = reader.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert!(reader.is_empty());
        assert_eq!(
            frames,
            vec![
                StreamFrame::Event {
                    event_type: "messageStart".into(),
                    payload: Bytes::from_static(br#"{"role":"assistant"}"#)
                },
                StreamFrame::Exception {
                    exception_type: "throttlingException".into(),
                    payload: Bytes::from_static(br#"{"message":"slow down"}"#)
                },
            ]
        );
    }

    #[test]
    fn the_splitter_hands_out_whole_frames_only() {
        let a = event_frame("messageStart", r#"{"role":"assistant"}"#).unwrap();
        let b = event_frame("metadata", r#"{"usage":{}}"#).unwrap();
        let mut all = a.to_vec();
        all.extend_from_slice(&b);
        // Whole frames in one chunk: handed back as they are.
        let mut s = FrameSplitter::new();
        let (raw, frames) = s.push(Bytes::from(all.clone())).unwrap();
        assert_eq!((raw.len(), frames.len()), (all.len(), 2));
        assert!(s.is_empty());
        // Any split: the same bytes and frames in the end, never a partial frame handed out.
        for cut in 1..all.len() {
            let mut s = FrameSplitter::new();
            let (r1, f1) = s.push(Bytes::copy_from_slice(&all[..cut])).unwrap();
            let (r2, f2) = s.push(Bytes::copy_from_slice(&all[cut..])).unwrap();
            assert!(r1.is_empty() || r1.len() == a.len(), "cut {cut}");
            assert_eq!([r1, r2].concat(), all);
            assert_eq!(f1.len() + f2.len(), 2);
            assert!(s.is_empty());
        }
        assert!(FrameSplitter::new().push(Bytes::from_static(&[0, 0, 0, 1, 9])).is_err());
    }

    #[test]
    fn corrupt_frames_are_errors_not_panics() {
        let mut frame = event_frame("x", "{}").unwrap().to_vec();
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        let mut reader = FrameReader::new();
        reader.push(&frame);
        assert!(reader.next_frame().is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut reader = FrameReader::new();
            reader.push(&bytes);
            for _ in 0..4 {
                if !matches!(reader.next_frame(), Ok(Some(_))) { break; }
            }
        }

        #[test]
        fn the_splitter_reads_frames_as_the_crate_does(event in "[a-zA-Z]{1,20}", payload in prop::collection::vec(any::<u8>(), 0..512), exception in any::<bool>()) {
            let frame = if exception {
                exception_frame(&event, payload.clone()).unwrap()
            } else {
                event_frame(&event, payload.clone()).unwrap()
            };
            let mut reader = FrameReader::new();
            reader.push(&frame);
            let expected = reader.next_frame().unwrap().unwrap();
            let (_, frames) = FrameSplitter::new().push(frame).unwrap();
            prop_assert_eq!(frames, vec![expected]);
        }

        #[test]
        fn the_splitter_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
            let mut s = FrameSplitter::new();
            let cut = cut.min(bytes.len());
            let _ = s.push(Bytes::copy_from_slice(&bytes[..cut]));
            let _ = s.push(Bytes::copy_from_slice(&bytes[cut..]));
        }

        #[test]
        fn any_payload_round_trips(event in "[a-zA-Z]{1,20}", payload in prop::collection::vec(any::<u8>(), 0..2048)) {
            let frame = event_frame(&event, payload.clone()).unwrap();
            let mut reader = FrameReader::new();
            reader.push(&frame);
            let decoded = reader.next_frame().unwrap().unwrap();
            prop_assert_eq!(decoded, StreamFrame::Event { event_type: event, payload: Bytes::from(payload) });
        }
    }
}
