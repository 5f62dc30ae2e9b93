//! Reading commands: every name to its variant, unknown names, and bad args per command with
//! the codes their replies carry.

use serde_json::{Value, json};

use super::*;
use crate::cloud::args::JobKey;
use crate::gcode::estimate::Quality;

const MAX: usize = 64 * 1024;

fn publish(printer: Option<&str>, args: Value) -> Vec<u8> {
    let envelope = json!({"v": 1, "id": "c-1", "printer": printer, "args": args});
    envelope.to_string().into_bytes()
}

fn read(name: &str, args: Value) -> Result<Command, Refused> {
    Command::parse(name, &publish(Some("mk3s"), args), MAX)
}

/// The id and code of a refusal.
fn refusal(read: Result<Command, Refused>) -> (Option<String>, &'static str) {
    let refused = read.unwrap_err();
    (refused.id, refused.refusal.code())
}

fn file() -> Value {
    json!({"name": "a.gcode", "url": "https://x.test/a.gcode", "sha256": "ab".repeat(32)})
}

/// Args every command accepts, by name.
fn good_args(name: &str) -> Value {
    match name {
        "job.submit" => json!({"job_id": "job-1", "file": file()}),
        "job.cancel" | "job.pause" | "job.resume" => json!({"job_id": "job-1"}),
        "queue.move" => json!({"job_id": 7, "index": 0}),
        "job.recover" => json!({"job_id": 7, "z_offset_mm": 0.1, "from_layer": 3}),
        "estimate" => json!({"file": file(), "material": "PETG", "quality": "fine"}),
        "events.replay" => json!({"from": 3}),
        "events.ack" => json!({"seq": 3}),
        "cert.install" => json!({"certificate": "PEM"}),
        "gateway.update" => {
            json!({"version": "0.2.0", "url": "https://x/gw", "sha256": "ab", "signature": "cd", "when": "now"})
        }
        _ => json!({}),
    }
}

/// Whether a command is the one expected.
type Is = fn(&CloudCommand) -> bool;

fn cloud_job(a: &JobArgs) -> bool {
    a.job_id == JobKey::Cloud("job-1".into())
}

#[test]
fn every_name_reads_as_its_own_command() {
    let cases: [(&str, Is); 14] = [
        (
            "job.submit",
            |c| matches!(c, C::Submit(s) if s.job.cloud_job_id.as_deref() == Some("job-1")),
        ),
        ("job.cancel", |c| matches!(c, C::Cancel(a) if cloud_job(a))),
        ("job.pause", |c| matches!(c, C::Pause(a) if cloud_job(a))),
        ("job.resume", |c| matches!(c, C::Resume(a) if cloud_job(a))),
        (
            "job.recover",
            |c| matches!(c, C::Recover(a) if a.job_id == JobKey::Gateway(7) && a.from_layer == Some(3)),
        ),
        (
            "queue.move",
            |c| matches!(c, C::Move(a) if a.job_id == JobKey::Gateway(7) && a.index == 0),
        ),
        (
            "printer.bed-cleared",
            |c| matches!(c, C::BedCleared(p) if p.as_str() == "mk3s"),
        ),
        (
            "estimate",
            |c| matches!(c, C::Estimate(e) if e.quality == Quality::Fine),
        ),
        ("state.get", |c| matches!(c, C::StateGet)),
        (
            "events.replay",
            |c| matches!(c, C::Replay(a) if a.from == 3),
        ),
        ("events.ack", |c| matches!(c, C::Ack(a) if a.seq == 3)),
        ("cert.renew", |c| matches!(c, C::CertRenew)),
        (
            "cert.install",
            |c| matches!(c, C::CertInstall(a) if a.certificate == "PEM"),
        ),
        (
            "gateway.update",
            |c| matches!(c, C::Update(a) if a.version == "0.2.0" && a.when == super::update::When::Now),
        ),
    ];
    assert_eq!(cases.map(|(name, _)| name), COMMANDS);
    for (name, is) in cases {
        let command = read(name, good_args(name)).unwrap();
        assert_eq!(command.id, "c-1");
        assert!(is(&command.action), "{name} read as {:?}", command.action);
    }
}

#[test]
fn every_name_is_in_the_table_once() {
    for name in COMMANDS {
        assert_eq!(COMMANDS.iter().filter(|n| **n == name).count(), 1, "{name}");
    }
}

#[test]
fn an_unknown_name_is_refused_with_its_id_after_the_envelope_is_checked() {
    let unknown = read("job.explode", json!({}));
    let refused = unknown.as_ref().unwrap_err();
    assert_eq!(
        refused.refusal.to_string(),
        "unknown command \"job.explode\""
    );
    assert_eq!(refusal(unknown), (Some("c-1".into()), "unknown_command"));
    let not_json = Command::parse("job.explode", b"not json", MAX);
    assert_eq!(refusal(not_json), (None, "malformed"));
    let v2 = Command::parse("job.explode", br#"{"v":2,"id":"x"}"#, MAX);
    assert_eq!(refusal(v2), (Some("x".into()), "unsupported_version"));
}

#[test]
fn bad_args_are_refused_as_invalid_with_the_command_id() {
    let bad_file = json!({"name": "a", "url": "https://x.test/a", "sha256": "zz"});
    let ftp = json!({"name": "a", "url": "ftp://x.test/a", "sha256": "ab".repeat(32)});
    let not_a_url = json!({"name": "a", "url": "x", "sha256": "ab".repeat(32)});
    let cases = [
        ("job.submit", json!({})),
        ("job.submit", json!({"job_id": "j", "file": bad_file})),
        ("job.submit", json!({"job_id": "j", "file": ftp})),
        ("job.submit", json!({"job_id": "", "file": file()})),
        (
            "job.submit",
            json!({"job_id": "j", "file": file(), "color": "red"}),
        ),
        ("job.cancel", json!({})),
        ("job.pause", json!({"job_id": true})),
        ("job.resume", json!({"job_id": "j", "now": true})),
        ("queue.move", json!({"job_id": "j"})),
        ("queue.move", json!({"job_id": "j", "index": -1})),
        ("printer.bed-cleared", json!({"printer": "mk3s"})),
        ("estimate", json!({})),
        ("estimate", json!({"file": file(), "quality": "ludicrous"})),
        ("estimate", json!({"file": not_a_url})),
        ("state.get", json!({"verbose": true})),
        ("events.replay", json!({})),
        ("events.replay", json!({"from": -1})),
        ("events.ack", json!({"seq": "3"})),
    ];
    for (name, args) in cases {
        let seen = refusal(read(name, args.clone()));
        assert_eq!(seen, (Some("c-1".into()), "invalid"), "{name} {args}");
    }
}

#[test]
fn the_refusals_say_what_is_wrong_with_the_args() {
    let message = |name, args| read(name, args).unwrap_err().refusal.to_string();
    assert!(message("estimate", json!({})).contains("file"));
    assert!(message("job.submit", json!({"job_id": "j", "file": file(), "x": 1})).contains('x'));
    let no_printer = Command::parse("printer.bed-cleared", &publish(None, json!({})), MAX);
    let refused = no_printer.unwrap_err();
    assert_eq!(refused.refusal.code(), "invalid");
    assert_eq!(
        refused.refusal.to_string(),
        "\"printer\" names the printer whose bed is clear"
    );
}

#[test]
fn a_submission_takes_the_envelope_printer_unless_its_args_name_one() {
    let printer = |envelope: Option<&str>, args: Value| {
        let payload = publish(envelope, args);
        match Command::parse("job.submit", &payload, MAX).unwrap().action {
            C::Submit(s) => s.job.printer.map(|p| p.as_str().to_owned()),
            other => panic!("{other:?}"),
        }
    };
    let own = json!({"job_id": "j", "file": file(), "printer": "xl"});
    assert_eq!(printer(Some("mk3s"), own), Some("xl".into()));
    assert_eq!(
        printer(Some("mk3s"), good_args("job.submit")),
        Some("mk3s".into())
    );
    assert_eq!(printer(None, good_args("job.submit")), None);
}

#[test]
fn an_estimate_is_for_pla_at_standard_quality_unless_it_says_otherwise() {
    let C::Estimate(e) = read("estimate", json!({"file": file()})).unwrap().action else {
        panic!("not an estimate");
    };
    assert_eq!((e.material.as_str(), e.quality), ("PLA", Quality::Standard));
    assert_eq!(e.printer.as_deref(), Some("mk3s"));
    assert_eq!(e.file.url.as_str(), "https://x.test/a.gcode");
}

#[test]
fn submissions_estimates_and_state_reads_overlap_and_the_rest_run_alone() {
    // gateway.update overlaps too: it stays unanswered across the helper's restart.
    let overlapping = ["job.submit", "estimate", "state.get", "gateway.update"];
    for name in COMMANDS {
        let expected = overlapping.contains(&name);
        let command = read(name, good_args(name));
        assert_eq!(may_overlap(&command), expected, "{name}");
        // Refused, a command keeps its name's turn.
        let bad_args = read(name, json!({"no such field": 1}));
        assert!(bad_args.is_err(), "{name}");
        assert_eq!(may_overlap(&bad_args), expected, "{name} with bad args");
        let malformed = Command::parse(name, b"{", MAX);
        assert_eq!(may_overlap(&malformed), expected, "{name} malformed");
    }
    assert!(!may_overlap(&read("job.explode", json!({}))));
}

#[test]
fn a_submission_carries_its_print_options_and_bad_ones_are_refused_as_invalid() {
    let project =
        json!({"name": "p.gcode.3mf", "url": "https://x.test/p", "sha256": "ab".repeat(32)});
    let options = json!({"plate": 2, "use_ams": true, "ams_mapping": [1, -1], "timelapse": true});
    let args = json!({"job_id": "j", "file": project, "options": options});
    let C::Submit(s) = read("job.submit", args).unwrap().action else {
        panic!("not a submission");
    };
    let taken = s.job.options.expect("options");
    assert_eq!((taken.plate, taken.use_ams), (Some(2), true));
    assert_eq!(taken.ams_mapping, vec![1, -1]);
    assert!(taken.timelapse && !taken.bed_levelling);

    let with = |file: &Value, options: Value| {
        let args = json!({"job_id": "j", "file": file, "options": options});
        read("job.submit", args).unwrap_err().refusal
    };
    let cases = [
        (&project, json!({"bed_leveling": true}), "bed_leveling"),
        (
            &project,
            json!({"use_ams": true, "ams_mapping": [16]}),
            "out of range",
        ),
        (
            &project,
            json!({"use_ams": true, "ams_mapping": vec![0; 17]}),
            "at most 16",
        ),
        (&project, json!({"ams_mapping": [0]}), "use_ams"),
        (&project, json!({"plate": 0}), "start at 1"),
        (&file(), json!({"timelapse": true}), ".gcode.3mf"),
    ];
    for (file, options, said) in cases {
        let refusal = with(file, options.clone());
        assert_eq!(refusal.code(), "invalid", "{options}");
        assert!(refusal.to_string().contains(said), "{options}: {refusal}");
    }
}

#[test]
fn an_estimate_may_name_the_plate_of_a_project() {
    let args = json!({"file": file(), "plate": 2});
    let C::Estimate(e) = read("estimate", args).unwrap().action else {
        panic!("not an estimate");
    };
    assert_eq!(e.plate, Some(2));
}
