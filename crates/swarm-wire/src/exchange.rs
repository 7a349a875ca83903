//! The order of frames on one request's stream (`docs/spec/wire-v1.md`, "Frames" and
//! "Requests"), checked frame by frame: one request, then its data if it is a `Write`; one
//! response allowed for that request, then its data if it is `Data`. Each side passes every
//! decoded frame to its checker before acting on it.
//!
//! Counting bytes is checked here; content is the consumer's: a shard is hashed (BLAKE3)
//! incrementally as its data frames arrive and compared with its name at the end frame.

use crate::error::SequenceError;
use crate::frame::Frame;
use crate::message::{Message, Request, Response};

/// A data sequence being received: bytes counted against the length announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming {
    announced: u64,
    received: u64,
}

impl Incoming {
    pub fn new(announced: u64) -> Self {
        Incoming {
            announced,
            received: 0,
        }
    }

    /// A data frame of `len` bytes arrived: refused past the length announced.
    pub fn data(&mut self, len: usize) -> Result<(), SequenceError> {
        let received = self.received.saturating_add(len as u64);
        if received > self.announced {
            return Err(SequenceError::Overrun {
                announced: self.announced,
            });
        }
        self.received = received;
        Ok(())
    }

    /// The end frame arrived: refused before all the bytes announced.
    pub fn end(&self) -> Result<(), SequenceError> {
        if self.received < self.announced {
            return Err(SequenceError::Short {
                received: self.received,
                announced: self.announced,
            });
        }
        Ok(())
    }

    pub fn announced(&self) -> u64 {
        self.announced
    }

    pub fn received(&self) -> u64 {
        self.received
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the stream's message.
    Message,
    Receiving(Incoming),
    /// Nothing more may come.
    Finished,
}

/// Counts a data or end frame of a sequence; anything else there is out of order.
fn sequence<M: Message>(state: &mut State, frame: &Frame<M>) -> Result<(), SequenceError> {
    match (*state, frame) {
        (State::Receiving(mut incoming), Frame::Data(data)) => {
            incoming.data(data.len())?;
            *state = State::Receiving(incoming);
        }
        (State::Receiving(incoming), Frame::End) => {
            incoming.end()?;
            *state = State::Finished;
        }
        (State::Receiving(_), Frame::Message(m)) => {
            return Err(SequenceError::Unexpected {
                expected: "data or end",
                got: m.name(),
            });
        }
        (State::Message, other) => {
            return Err(SequenceError::Unexpected {
                expected: M::KIND,
                got: other.describe(),
            });
        }
        (State::Finished, other) => {
            return Err(SequenceError::Unexpected {
                expected: "nothing more",
                got: other.describe(),
            });
        }
    }
    Ok(())
}

/// The responder's side: a request, then a `Write`'s data.
#[derive(Debug, Clone)]
pub struct RequestCheck {
    state: State,
}

impl Default for RequestCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestCheck {
    pub fn new() -> Self {
        RequestCheck {
            state: State::Message,
        }
    }

    /// Checks the next frame from the requester.
    pub fn check(&mut self, frame: &Frame<Request>) -> Result<(), SequenceError> {
        match (self.state, frame) {
            (State::Message, Frame::Message(request)) => {
                self.state = match request {
                    Request::Write { len, .. } => State::Receiving(Incoming::new(*len)),
                    _ => State::Finished,
                };
                Ok(())
            }
            _ => sequence(&mut self.state, frame),
        }
    }

    /// Whether the request (and its data) is complete.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }
}

/// What a request may be answered with (besides `Failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Hello,
    Definition,
    Done,
    Meta,
    Data { max: u64 },
    Page { limit: u32 },
    FreeSpace,
}

/// The requester's side: the response its request allows, then a `Data`'s bytes, no more than
/// it asked for; or `Failed`, also in place of a data frame.
#[derive(Debug, Clone)]
pub struct ResponseCheck {
    request: &'static str,
    answer: Answer,
    state: State,
}

impl ResponseCheck {
    /// For the answer to `request`.
    pub fn new(request: &Request) -> Self {
        let answer = match request {
            Request::Hello(_) => Answer::Hello,
            Request::GetDefinition => Answer::Definition,
            Request::OfferDefinition(_)
            | Request::Write { .. }
            | Request::Touch { .. }
            | Request::Delete { .. }
            | Request::Create { .. }
            | Request::Check { .. } => Answer::Done,
            Request::Stat { .. } => Answer::Meta,
            Request::Read { max, .. } => Answer::Data { max: *max },
            Request::ReadRange { len, .. } => Answer::Data { max: *len },
            Request::List { limit, .. } => Answer::Page { limit: limit.get() },
            Request::FreeSpace => Answer::FreeSpace,
        };
        ResponseCheck {
            request: request.name(),
            answer,
            state: State::Message,
        }
    }

    /// Checks the next frame from the responder.
    pub fn check(&mut self, frame: &Frame<Response>) -> Result<(), SequenceError> {
        match (self.state, frame) {
            (State::Message | State::Receiving(_), Frame::Message(Response::Failed(_))) => {
                self.state = State::Finished;
                Ok(())
            }
            (State::Message, Frame::Message(response)) => {
                self.state = self.answered(response)?;
                Ok(())
            }
            _ => sequence(&mut self.state, frame),
        }
    }

    /// Whether the response (and its data) is complete.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    fn answered(&self, response: &Response) -> Result<State, SequenceError> {
        let wrong = SequenceError::WrongAnswer {
            request: self.request,
            got: response.name(),
        };
        match (self.answer, response) {
            (Answer::Data { max }, Response::Data { len }) => {
                if *len > max {
                    return Err(SequenceError::Overlong { len: *len, max });
                }
                Ok(State::Receiving(Incoming::new(*len)))
            }
            (Answer::Page { limit }, Response::Page(page)) => {
                if page.entries.len() > limit as usize {
                    return Err(SequenceError::PageOverLimit {
                        entries: page.entries.len(),
                        limit,
                    });
                }
                if page.next.is_some() && page.entries.is_empty() {
                    return Err(SequenceError::EmptyPage);
                }
                Ok(State::Finished)
            }
            (Answer::Hello, Response::Hello(_))
            | (Answer::Definition, Response::Definition(_))
            | (Answer::Done, Response::Done)
            | (Answer::Meta, Response::Meta(_))
            | (Answer::FreeSpace, Response::FreeSpace(_)) => Ok(State::Finished),
            _ => Err(wrong),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::Bytes;

    use super::*;
    use crate::failure::Failure;
    use crate::object::{Class, Cursor, Entry, ObjectName, Page, PageLimit};

    fn data(n: usize) -> Frame<Response> {
        Frame::Data(Bytes::from(vec![0; n]))
    }

    fn read(max: u64) -> ResponseCheck {
        ResponseCheck::new(&Request::Read {
            object: ObjectName::Shard([1; 32]),
            max,
        })
    }

    #[test]
    fn a_read_gets_its_bytes_then_the_end() {
        let mut c = read(10);
        c.check(&Frame::Message(Response::Data { len: 5 })).unwrap();
        c.check(&data(3)).unwrap();
        assert!(!c.is_finished());
        c.check(&data(2)).unwrap();
        c.check(&Frame::End).unwrap();
        assert!(c.is_finished());
        assert!(matches!(
            c.check(&data(1)),
            Err(SequenceError::Unexpected { .. })
        ));
    }

    #[test]
    fn data_past_the_announcement_or_an_early_end_is_refused() {
        let mut c = read(10);
        c.check(&Frame::Message(Response::Data { len: 5 })).unwrap();
        assert_eq!(
            c.check(&data(6)),
            Err(SequenceError::Overrun { announced: 5 })
        );
        let mut c = read(10);
        c.check(&Frame::Message(Response::Data { len: 5 })).unwrap();
        c.check(&data(4)).unwrap();
        assert_eq!(
            c.check(&Frame::End),
            Err(SequenceError::Short {
                received: 4,
                announced: 5
            })
        );
        assert_eq!(
            read(4).check(&Frame::Message(Response::Data { len: 5 })),
            Err(SequenceError::Overlong { len: 5, max: 4 })
        );
    }

    #[test]
    fn a_failure_may_replace_the_rest_of_the_data() {
        let mut c = read(10);
        c.check(&Frame::Message(Response::Data { len: 5 })).unwrap();
        c.check(&data(2)).unwrap();
        c.check(&Frame::Message(Response::Failed(Failure::internal(
            "disk", true,
        ))))
        .unwrap();
        assert!(c.is_finished());
        let mut c = read(10);
        c.check(&Frame::Message(Response::Data { len: 5 })).unwrap();
        assert!(matches!(
            c.check(&Frame::Message(Response::Done)),
            Err(SequenceError::Unexpected { .. })
        ));
    }

    #[test]
    fn only_the_answers_a_request_allows() {
        let mut c = read(10);
        assert_eq!(
            c.check(&Frame::Message(Response::Done)),
            Err(SequenceError::WrongAnswer {
                request: "Read",
                got: "Done"
            })
        );
        assert!(matches!(
            read(1).check(&data(1)),
            Err(SequenceError::Unexpected { .. })
        ));
        let mut stat = ResponseCheck::new(&Request::Stat {
            object: ObjectName::Marker,
        });
        stat.check(&Frame::Message(Response::Meta(None))).unwrap();
        assert!(stat.is_finished());
    }

    #[test]
    fn pages_respect_the_limit_and_progress() {
        let list = |limit| {
            ResponseCheck::new(&Request::List {
                class: Class::Shards,
                after: None,
                limit: PageLimit::new(limit).unwrap(),
            })
        };
        let stray = Entry::Stray(crate::Text::new("x").unwrap());
        let page = |n: usize, next: bool| {
            Frame::Message(Response::Page(Page {
                entries: crate::BoundedVec::new(vec![stray.clone(); n]).unwrap(),
                next: next.then(|| Cursor::new(vec![1]).unwrap()),
            }))
        };
        assert!(list(2).check(&page(2, true)).is_ok());
        assert!(list(2).check(&page(0, false)).is_ok());
        assert_eq!(
            list(1).check(&page(2, true)),
            Err(SequenceError::PageOverLimit {
                entries: 2,
                limit: 1
            })
        );
        assert_eq!(list(1).check(&page(0, true)), Err(SequenceError::EmptyPage));
    }

    #[test]
    fn a_write_brings_its_data_and_nothing_else() {
        let write = Request::Write {
            object: ObjectName::Shard([2; 32]),
            len: 3,
        };
        let mut c = RequestCheck::new();
        c.check(&Frame::Message(write)).unwrap();
        c.check(&Frame::Data(Bytes::from_static(b"abc"))).unwrap();
        assert!(!c.is_finished());
        c.check(&Frame::End).unwrap();
        assert!(c.is_finished());
        let mut c = RequestCheck::new();
        c.check(&Frame::Message(Request::FreeSpace)).unwrap();
        assert!(c.is_finished());
        assert!(c.check(&Frame::End).is_err());
        assert!(RequestCheck::new().check(&Frame::End).is_err());
    }
}
