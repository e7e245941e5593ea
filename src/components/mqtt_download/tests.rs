//! The block protocol without sockets: frames in, requests and statuses out.

use super::codes::*;
use super::frame::{crc16_arc, parse_reply, request_payload, FrameError, TOKEN_MAX};
use super::machine::*;
use crate::components::ota::message::{DIGEST_MD5, DIGEST_SHA256};

/// A reply frame as the platform builds it.
fn frame(header: &str, data: &[u8], crc: u16) -> Vec<u8> {
    let mut f = (header.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(data);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

fn good(offset: u32, data: &[u8], total: usize) -> Vec<u8> {
    let h = format!(
        "{{\"code\":200,\"data\":{{\"fileToken\":\"tok\",\"fileLength\":{total},\"bOffset\":{offset},\"bSize\":{}}},\"message\":\"success\"}}",
        data.len()
    );
    frame(&h, data, crc16_arc(data))
}

fn image(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest as _, Md5};
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn machine(img: &[u8], method: u8, digest: String, block: u32) -> Machine {
    let mut m = Machine::new(Task {
        stream_id: 7,
        stream_file_id: 1,
        size_total: img.len() as u32,
        digest_method: method,
        expect_digest: digest,
    });
    m.request_size = block;
    m
}

fn sent(actions: &[Action]) -> Vec<Request> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(r) => Some(*r),
            _ => None,
        })
        .collect()
}

fn steps(actions: &[Action]) -> Vec<i32> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Progress(p) => Some(*p),
            _ => None,
        })
        .collect()
}

/// Serves every request from `img` until the machine stops asking; returns the bytes taken
/// and the progress steps seen, and the final status code.
fn run(m: &mut Machine, img: &[u8]) -> (Vec<u8>, Vec<i32>, i32) {
    let mut now = 1000;
    let (code, actions) = m.process(now);
    assert_eq!(code, STATE_MQTT_DOWNLOAD_ING);
    assert_eq!(actions[0], Action::Subscribe);
    let mut queue = sent(&actions);
    let mut got = Vec::new();
    let mut all_steps = Vec::new();
    for _ in 0..100_000 {
        let Some(req) = queue.pop() else { break };
        let (o, s) = (req.offset as usize, req.size as usize);
        let reply = good(req.offset, &img[o..o + s], img.len());
        match m.on_reply(&reply, now) {
            ReplyOutcome::Block(b) => got.extend_from_slice(b.data),
            other => panic!("refused: {other:?}"),
        }
        if let Some(r) = m.next_request(now) {
            queue.push(r);
        }
        now += 1;
        let (code, actions) = m.process(now);
        if queue.is_empty() {
            assert_eq!(code, STATE_MQTT_DOWNLOAD_FINISHED);
        }
        all_steps.extend(steps(&actions));
    }
    let (code, actions) = m.process(now);
    all_steps.extend(steps(&actions));
    (got, all_steps, code)
}

#[test]
fn crc16_arc_check_value() {
    assert_eq!(crc16_arc(b"123456789"), 0xBB3D);
    assert_eq!(crc16_arc(b""), 0);
}

#[test]
fn request_payload_is_upstreams_bytes() {
    assert_eq!(
        request_payload(3, 100, 2, 10240, 20480),
        r#"{"id":"3","version":"1.0","params":{"fileToken":"default","fileInfo":{"streamId":100,"fileId":2,},"fileBlock":{"size":10240,"offset":20480}}}"#
    );
}

#[test]
fn whole_file_md5_success_with_progress_every_5_percent() {
    let img = image(100_000);
    let mut m = machine(&img, DIGEST_MD5, md5_hex(&img), 1000);
    let (got, steps, code) = run(&mut m, &img);
    assert_eq!(got, img);
    assert_eq!(code, STATE_MQTT_DOWNLOAD_SUCCESS);
    // 5, 10, ... 95 while downloading, 100 at SUCCESS.
    let want: Vec<i32> = (1..=20).map(|i| i * 5).collect();
    assert_eq!(steps, want);
    // Back at INIT: a new call starts again with a SUBSCRIBE and request id 1.
    let (code, actions) = m.process(5000);
    assert_eq!(code, STATE_MQTT_DOWNLOAD_ING);
    assert_eq!(
        sent(&actions)[0],
        Request {
            id: 1,
            offset: 0,
            size: 1000
        }
    );
}

#[test]
fn sha256_is_checked_too_and_a_wrong_digest_never_succeeds() {
    let img = image(30_000);
    let mut m = machine(&img, DIGEST_SHA256, sha256_hex(&img), 4096);
    assert_eq!(run(&mut m, &img).2, STATE_MQTT_DOWNLOAD_SUCCESS);
    let mut bad = sha256_hex(&img);
    bad.replace_range(0..1, if bad.starts_with('0') { "1" } else { "0" });
    let mut m = machine(&img, DIGEST_SHA256, bad, 4096);
    let (got, steps, code) = run(&mut m, &img);
    assert_eq!(got, img);
    assert_eq!(code, STATE_MQTT_DOWNLOAD_FAILED_MISMATCH);
    assert_eq!(steps.last(), Some(&-3));
    // An unknown digest method cannot verify the image: never SUCCESS.
    let mut m = machine(&img, 9, sha256_hex(&img), 4096);
    assert_eq!(run(&mut m, &img).2, STATE_MQTT_DOWNLOAD_FAILED_MISMATCH);
}

#[test]
fn status_on_entry_sequence() {
    let img = image(10);
    let mut m = machine(&img, DIGEST_MD5, md5_hex(&img), 1000);
    let (c, a) = m.process(0);
    assert_eq!(c, STATE_MQTT_DOWNLOAD_ING);
    let r = sent(&a)[0];
    assert_eq!((r.offset, r.size), (0, 10));
    assert!(matches!(m.on_reply(&good(0, &img, 10), 1), ReplyOutcome::Block(b) if b.percent == 100));
    assert_eq!(m.next_request(1), None);
    assert_eq!(m.process(2).0, STATE_MQTT_DOWNLOAD_FINISHED);
    let (c, a) = m.process(3);
    assert_eq!((c, steps(&a)), (STATE_MQTT_DOWNLOAD_SUCCESS, vec![100]));
    assert_eq!(m.status_code(), STATE_MQTT_DOWNLOAD_INIT);
}

#[test]
fn ranges_are_inclusive_and_checked_by_crc_only() {
    let img = image(50_000);
    // Bytes 10..=20009 (20000 bytes); the digest (of the whole file) is not applied.
    let mut m = machine(&img, DIGEST_MD5, "0".repeat(32), 3000);
    m.range = Range {
        start: 10,
        end: 20_009,
    };
    let (got, _, code) = run(&mut m, &img);
    assert_eq!(code, STATE_MQTT_DOWNLOAD_SUCCESS);
    assert_eq!(got, &img[10..=20_009]);
    // start 0, end 9: ten bytes.
    assert_eq!(Range { start: 0, end: 9 }.resolve(100), Some((0, 10)));
    // end 0: to the end; an end past the file: cut to its last byte.
    assert_eq!(Range { start: 90, end: 0 }.resolve(100), Some((90, 10)));
    assert_eq!(Range { start: 0, end: 100 }.resolve(100), Some((0, 100)));
    assert_eq!(Range { start: 100, end: 0 }.resolve(100), None);
    assert_eq!(Range { start: 5, end: 4 }.resolve(100), None);
    assert_eq!(Range::default().resolve(0), None);
    // The whole file given as a range is still verified.
    let mut m = machine(&img, DIGEST_MD5, "0".repeat(32), 8000);
    m.range = Range {
        start: 0,
        end: 49_999,
    };
    assert_eq!(run(&mut m, &img).2, STATE_MQTT_DOWNLOAD_FAILED_MISMATCH);
}

#[test]
fn empty_range_is_a_filesize_error_and_stays_init() {
    let mut m = machine(&[], DIGEST_MD5, String::new(), 100);
    let (c, a) = m.process(0);
    assert_eq!(c, STATE_MQTT_DOWNLOAD_FILESIZE_ERROR);
    assert!(a.is_empty());
    assert_eq!(m.status_code(), STATE_MQTT_DOWNLOAD_INIT);
}

/// Starts a download of `img` in blocks of 100 and returns the machine and the first request.
fn started(img: &[u8]) -> (Machine, Request) {
    let mut m = machine(img, DIGEST_MD5, md5_hex(img), 100);
    let (_, a) = m.process(0);
    let r = sent(&a)[0];
    (m, r)
}

#[test]
fn bad_frames_are_resent_at_once_and_fail_after_three_resends() {
    let img = image(1000);
    let (mut m, r) = started(&img);
    let data = &img[..100];
    let mut corrupt_crc = good(0, data, 1000);
    let n = corrupt_crc.len();
    corrupt_crc[n - 1] ^= 0xFF;
    let mut short = good(0, data, 1000);
    short.truncate(n - 10);
    let mut ids = vec![r.id];
    for bad in [&corrupt_crc, &short, &corrupt_crc] {
        match m.on_reply(bad, 5) {
            ReplyOutcome::Failed(Some(req)) => {
                assert_eq!((req.offset, req.size), (0, 100));
                ids.push(req.id);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ids, vec![1, 2, 3, 4]);
    assert_eq!(m.on_reply(&corrupt_crc, 6), ReplyOutcome::Failed(None));
    assert_eq!(m.process(7).0, STATE_MQTT_DOWNLOAD_FAILED_TIMEOUT);
    assert_eq!(m.status_code(), STATE_MQTT_DOWNLOAD_INIT);
}

#[test]
fn a_good_block_resets_the_failure_count() {
    let img = image(1000);
    let (mut m, _) = started(&img);
    for _ in 0..3 {
        assert!(matches!(m.on_reply(b"\x00", 1), ReplyOutcome::Failed(Some(_))));
    }
    assert!(matches!(
        m.on_reply(&good(0, &img[..100], 1000), 2),
        ReplyOutcome::Block(_)
    ));
    let r = m.next_request(2).unwrap();
    assert_eq!(r.offset, 100);
    for _ in 0..3 {
        assert!(matches!(m.on_reply(b"\x00", 3), ReplyOutcome::Failed(Some(_))));
    }
    assert_eq!(m.status_code(), STATE_MQTT_DOWNLOAD_ING);
}

#[test]
fn timeouts_resend_after_10s_of_the_ports_clock() {
    let img = image(1000);
    let (mut m, _) = started(&img);
    assert!(sent(&m.process(10_000).1).is_empty());
    let r = sent(&m.process(10_001).1);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].id, r[0].offset), (2, 0));
    let mut now = 10_001;
    for id in 3..=4 {
        now += 10_001;
        assert_eq!(sent(&m.process(now).1)[0].id, id);
    }
    now += 10_001;
    let (c, a) = m.process(now);
    assert_eq!(c, STATE_MQTT_DOWNLOAD_ING);
    assert!(sent(&a).is_empty());
    let (c, a) = m.process(now + 1);
    assert_eq!((c, steps(&a)), (STATE_MQTT_DOWNLOAD_FAILED_TIMEOUT, vec![-4]));
}

#[test]
fn offsets_late_copies_are_ignored_future_ones_refused() {
    let img = image(1000);
    let (mut m, _) = started(&img);
    assert!(matches!(
        m.on_reply(&good(0, &img[..100], 1000), 1),
        ReplyOutcome::Block(_)
    ));
    m.next_request(1).unwrap();
    // A second copy of block 0 (after a resend): ignored, not a failure.
    assert_eq!(m.on_reply(&good(0, &img[..100], 1000), 2), ReplyOutcome::Ignored);
    // A block not asked for yet: refused, block 100 asked again.
    match m.on_reply(&good(300, &img[300..400], 1000), 3) {
        ReplyOutcome::Failed(Some(r)) => assert_eq!(r.offset, 100),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.fetched(), 100);
}

#[test]
fn empty_and_oversized_blocks_are_refused() {
    let img = image(1000);
    let (mut m, _) = started(&img);
    assert!(matches!(
        m.on_reply(&good(0, &[], 1000), 1),
        ReplyOutcome::Failed(Some(_))
    ));
    assert!(matches!(
        m.on_reply(&good(0, &img[..101], 1000), 1),
        ReplyOutcome::Failed(Some(_))
    ));
    assert_eq!(m.fetched(), 0);
    // Smaller than asked is fine: the next request starts after it.
    assert!(matches!(m.on_reply(&good(0, &img[..60], 1000), 2), ReplyOutcome::Block(b) if b.percent == 6));
    assert_eq!(m.next_request(2).map(|r| (r.offset, r.size)), Some((60, 100)));
}

#[test]
fn replies_outside_a_download_are_ignored() {
    let img = image(100);
    let mut m = machine(&img, DIGEST_MD5, md5_hex(&img), 100);
    assert_eq!(m.on_reply(&good(0, &img, 100), 0), ReplyOutcome::Ignored);
}

#[test]
fn hostile_frames() {
    let data = b"abcdef";
    let crc = crc16_arc(data);
    let hdr = |extra: &str| {
        format!("{{\"code\":200,\"data\":{{\"fileLength\":6,\"bOffset\":0,\"bSize\":6{extra}}}}}")
    };
    assert_eq!(parse_reply(b""), Err(FrameError::Short(0)));
    assert_eq!(parse_reply(b"\x01"), Err(FrameError::Short(1)));
    // Header length past the end (65535).
    assert!(matches!(
        parse_reply(b"\xff\xff{}"),
        Err(FrameError::HeaderPastEnd {
            header: 65535,
            total: 4
        })
    ));
    assert_eq!(
        parse_reply(&frame("not json", data, crc)),
        Err(FrameError::Code(0))
    );
    assert_eq!(
        parse_reply(&frame("{\"code\":404}", data, crc)),
        Err(FrameError::Code(404))
    );
    assert_eq!(
        parse_reply(&frame("{\"code\":-1}", data, crc)),
        Err(FrameError::Code(0))
    );
    assert_eq!(
        parse_reply(&frame("{\"code\":200,\"data\":[]}", data, crc)),
        Err(FrameError::Data)
    );
    let missing = |k: &str| hdr("").replace(&format!("\"{k}\""), "\"x\"");
    assert_eq!(
        parse_reply(&frame(&missing("bSize"), data, crc)),
        Err(FrameError::BlockSize)
    );
    assert_eq!(
        parse_reply(&frame(&missing("bOffset"), data, crc)),
        Err(FrameError::BlockOffset)
    );
    assert_eq!(
        parse_reply(&frame(&missing("fileLength"), data, crc)),
        Err(FrameError::FileLength)
    );
    assert_eq!(
        parse_reply(&frame(
            &hdr("").replace("\"bSize\":6", "\"bSize\":4294967296"),
            data,
            crc
        )),
        Err(FrameError::BlockSize)
    );
    // bSize bigger / smaller than the data actually there.
    assert_eq!(
        parse_reply(&frame(
            &hdr("").replace("\"bSize\":6", "\"bSize\":4294967295"),
            data,
            crc
        )),
        Err(FrameError::Length)
    );
    assert_eq!(
        parse_reply(&frame(&hdr("").replace("\"bSize\":6", "\"bSize\":5"), data, crc)),
        Err(FrameError::Length)
    );
    assert!(matches!(
        parse_reply(&frame(&hdr(""), data, crc ^ 1)),
        Err(FrameError::Crc { .. })
    ));
    // Numbers as digit strings are read, as upstream's scanner does.
    let f = frame(
        "{\"code\":\"200\",\"data\":{\"fileLength\":\"6\",\"bOffset\":\"0\",\"bSize\":\"6\"}}",
        data,
        crc,
    );
    let r = parse_reply(&f).unwrap();
    assert_eq!(
        (r.offset, r.file_length, r.data, r.token.as_str()),
        (0, 6, &data[..], "")
    );
    // A huge token is cut to 127 bytes (the C buffer holds 128 with the NUL).
    let long = "é".repeat(200);
    let f = frame(&hdr(&format!(",\"fileToken\":\"{long}\"")), data, crc);
    let r = parse_reply(&f).unwrap();
    assert!(r.token.len() <= TOKEN_MAX && r.token.len() >= TOKEN_MAX - 1);
    // Every prefix of a good frame is refused, never a panic.
    let f = frame(&hdr(""), data, crc);
    for n in 0..f.len() {
        assert!(parse_reply(&f[..n]).is_err(), "prefix {n}");
    }
    // Random bytes never panic.
    let mut x: u32 = 12345;
    for len in 0..300 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let _ = parse_reply(&bytes);
    }
}
