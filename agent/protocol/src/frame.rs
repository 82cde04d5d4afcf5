//! Binary data frames: stream bytes with their absolute offsets.
//!
//! Layout (little-endian), 16 bytes of header then the payload:
//!
//! | bytes | field | meaning |
//! | --- | --- | --- |
//! | 0 | `kind` | 1 = output (agent → client), 2 = input (client → agent) |
//! | 1 | `flags` | bit 0: typed by the user (input only); other bits must be 0 |
//! | 2–3 | reserved | must be 0 |
//! | 4–7 | `stream` | the stream id |
//! | 8–15 | `offset` | absolute offset of the payload's first byte in that direction |
//! | 16… | payload | at most [`MAX_PAYLOAD`] bytes |

use thiserror::Error;

/// Header length in bytes.
pub const HEADER_LEN: usize = 16;

/// The largest payload of one frame.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// The largest whole frame.
pub const MAX_FRAME: usize = HEADER_LEN + MAX_PAYLOAD;

const FLAG_USER_TYPED: u8 = 0b0000_0001;

/// Which way a frame travels and what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Bytes a stream produced (PTY output, job output, log lines): agent → client.
    Output,
    /// Bytes for a PTY's input: client → agent.
    Input {
        /// Typed by a person (counts as activity), as opposed to a terminal's automatic replies
        /// or focus and mouse-motion reports.
        user_typed: bool,
    },
}

/// One binary frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFrame {
    /// Direction and meaning.
    pub kind: FrameKind,
    /// The stream it belongs to.
    pub stream: u32,
    /// Absolute offset of `payload[0]` in the stream's output (or input) byte sequence.
    pub offset: u64,
    /// The bytes.
    pub payload: Vec<u8>,
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Fewer than [`HEADER_LEN`] bytes.
    #[error("frame of {0} bytes is shorter than the 16-byte header")]
    TooShort(usize),
    /// More than [`MAX_FRAME`] bytes.
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME}")]
    TooLong(usize),
    /// An unknown `kind` byte.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// A flag bit that is not defined for this kind.
    #[error("undefined flags {flags:#04x} for frame kind {kind}")]
    BadFlags {
        /// The kind byte.
        kind: u8,
        /// The flags byte.
        flags: u8,
    },
    /// The reserved bytes are not zero.
    #[error("reserved header bytes are not zero")]
    Reserved,
    /// `offset + payload length` does not fit in 64 bits.
    #[error("offset {0} plus the payload length overflows")]
    OffsetOverflow(u64),
}

impl DataFrame {
    /// An output frame.
    pub fn output(stream: u32, offset: u64, payload: Vec<u8>) -> Self {
        Self {
            kind: FrameKind::Output,
            stream,
            offset,
            payload,
        }
    }

    /// An input frame.
    pub fn input(stream: u32, offset: u64, payload: Vec<u8>, user_typed: bool) -> Self {
        Self {
            kind: FrameKind::Input { user_typed },
            stream,
            offset,
            payload,
        }
    }

    /// The offset just past this frame's payload.
    pub fn end(&self) -> u64 {
        self.offset + self.payload.len() as u64
    }

    /// Serializes the frame. Panics only if the payload exceeds [`MAX_PAYLOAD`], which is a
    /// programming error on the sending side.
    pub fn encode(&self) -> Vec<u8> {
        assert!(
            self.payload.len() <= MAX_PAYLOAD,
            "frame payload over the limit"
        );
        let (kind, flags) = match self.kind {
            FrameKind::Output => (1u8, 0u8),
            FrameKind::Input { user_typed } => (2, if user_typed { FLAG_USER_TYPED } else { 0 }),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.stream.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Parses a frame, refusing anything not exactly as specified.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        if bytes.len() < HEADER_LEN {
            return Err(FrameError::TooShort(bytes.len()));
        }
        if bytes.len() > MAX_FRAME {
            return Err(FrameError::TooLong(bytes.len()));
        }
        let (kind_byte, flags) = (bytes[0], bytes[1]);
        let kind = match kind_byte {
            1 if flags == 0 => FrameKind::Output,
            2 if flags & !FLAG_USER_TYPED == 0 => FrameKind::Input {
                user_typed: flags & FLAG_USER_TYPED != 0,
            },
            1 | 2 => {
                return Err(FrameError::BadFlags {
                    kind: kind_byte,
                    flags,
                });
            }
            other => return Err(FrameError::UnknownKind(other)),
        };
        if bytes[2] != 0 || bytes[3] != 0 {
            return Err(FrameError::Reserved);
        }
        let stream = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let mut offset_bytes = [0u8; 8];
        offset_bytes.copy_from_slice(&bytes[8..16]);
        let offset = u64::from_le_bytes(offset_bytes);
        let payload = bytes[HEADER_LEN..].to_vec();
        if offset.checked_add(payload.len() as u64).is_none() {
            return Err(FrameError::OffsetOverflow(offset));
        }
        Ok(Self {
            kind,
            stream,
            offset,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_documented_layout() {
        let frame = DataFrame::input(0x0102_0304, 0x1122_3344_5566_7788, b"hi".to_vec(), true);
        let bytes = frame.encode();
        assert_eq!(
            bytes,
            [
                2, 1, 0, 0, 0x04, 0x03, 0x02, 0x01, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                b'h', b'i'
            ]
        );
        assert_eq!(DataFrame::decode(&bytes), Ok(frame));
    }

    #[test]
    fn malformed_frames_are_refused() {
        let good = DataFrame::output(7, 0, vec![1, 2, 3]).encode();
        assert_eq!(
            DataFrame::decode(&good[..15]),
            Err(FrameError::TooShort(15))
        );
        let mut bad_kind = good.clone();
        bad_kind[0] = 9;
        assert_eq!(
            DataFrame::decode(&bad_kind),
            Err(FrameError::UnknownKind(9))
        );
        let mut output_with_flag = good.clone();
        output_with_flag[1] = 1;
        assert!(matches!(
            DataFrame::decode(&output_with_flag),
            Err(FrameError::BadFlags { .. })
        ));
        let mut reserved = good.clone();
        reserved[3] = 1;
        assert_eq!(DataFrame::decode(&reserved), Err(FrameError::Reserved));
        let long = vec![1u8; MAX_FRAME + 1];
        assert_eq!(
            DataFrame::decode(&long),
            Err(FrameError::TooLong(MAX_FRAME + 1))
        );
        let mut overflow = DataFrame::output(1, u64::MAX, vec![]).encode();
        overflow.push(0);
        assert_eq!(
            DataFrame::decode(&overflow),
            Err(FrameError::OffsetOverflow(u64::MAX))
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = DataFrame::decode(&bytes);
        }

        #[test]
        fn every_valid_frame_round_trips(
            input in any::<bool>(),
            user_typed in any::<bool>(),
            stream in any::<u32>(),
            offset in 0u64..u64::MAX / 2,
            payload in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let frame = if input {
                DataFrame::input(stream, offset, payload, user_typed)
            } else {
                DataFrame::output(stream, offset, payload)
            };
            prop_assert_eq!(DataFrame::decode(&frame.encode()), Ok(frame));
        }

        #[test]
        fn a_decoded_frame_re_encodes_to_the_same_bytes(
            kind in 0u8..4,
            flags in 0u8..3,
            reserved in prop_oneof![Just(0u16), any::<u16>()],
            rest in proptest::collection::vec(any::<u8>(), 12..80),
        ) {
            // Headers drawn near the valid space, so both outcomes are exercised.
            let mut bytes = vec![kind, flags];
            bytes.extend_from_slice(&reserved.to_le_bytes());
            bytes.extend_from_slice(&rest);
            match DataFrame::decode(&bytes) {
                Ok(frame) => prop_assert_eq!(frame.encode(), bytes),
                Err(FrameError::OffsetOverflow(_)) => {}
                Err(_) => prop_assert!(kind == 0 || kind == 3 || flags > 1 || reserved != 0
                    || (kind == 1 && flags != 0)),
            }
        }
    }
}
