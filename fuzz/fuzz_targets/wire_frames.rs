//! Frames of the node protocol as a peer sends them: any bytes, in any split. The decoder must
//! never panic nor hold more than one frame, must give the same answer however the bytes are
//! split, and whatever decodes re-encodes to frames that decode to themselves. Decoded frames
//! also go through the per-stream order checks, which must refuse, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarm_wire::{
    Frame, FrameDecoder, FrameError, HEADER_LEN, MAX_DATA, Message, ObjectName, Request,
    RequestCheck, Response, ResponseCheck,
};

fn decode<M: Message>(data: &[u8], cut: usize) -> Result<Vec<Frame<M>>, FrameError> {
    let mut d = FrameDecoder::<M>::new();
    let mut out = Vec::new();
    for mut piece in [&data[..cut], &data[cut..]] {
        while !piece.is_empty() {
            if let Some(f) = d.decode(&mut piece)? {
                out.push(f);
            }
            assert!(d.buffered() <= HEADER_LEN + MAX_DATA);
        }
    }
    d.finish()?;
    Ok(out)
}

fn check<M: Message + PartialEq>(data: &[u8], cut: usize) -> Option<Vec<Frame<M>>> {
    let whole = decode::<M>(data, data.len());
    assert_eq!(
        decode::<M>(data, cut),
        whole,
        "the answer depends on the split"
    );
    if let Err(e) = &whole {
        let _ = (e.to_string(), e.reply(), e.close_code());
    }
    let frames = whole.ok()?;
    let mut again = Vec::new();
    for f in &frames {
        f.encode_into(&mut again).expect("a decoded frame encodes");
    }
    assert_eq!(decode::<M>(&again, again.len()).as_ref(), Ok(&frames));
    Some(frames)
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    if let Some(frames) = check::<Request>(data, cut) {
        let mut order = RequestCheck::new();
        for f in &frames {
            if order.check(f).is_err() {
                break;
            }
        }
    }
    if let Some(frames) = check::<Response>(data, cut) {
        let read = Request::Read {
            object: ObjectName::Marker,
            max: 4096,
        };
        let mut order = ResponseCheck::new(&read);
        for f in &frames {
            if order.check(f).is_err() {
                break;
            }
        }
    }
});
