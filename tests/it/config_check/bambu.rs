//! A Bambu printer's keys: `host`, `serial`, `access_code` and `ca_file` required, the ports'
//! defaults and range, the access code kept secret, and `serial` as a string here but a
//! table elsewhere.

use super::*;

fn bambu(keys: &str, ca: &Path) -> String {
    format!(
        "[gateway]\nid = \"gw\"\n[[printers]]\nid = \"x1c\"\ndriver = \"bambu\"\n\
         build_volume = [256, 256, 256]\nca_file = \"{}\"\n{keys}",
        ca.display()
    )
}

fn ca_file() -> NamedTempFile {
    let mut file = NamedTempFile::new().unwrap();
    file.write_all(b"-----BEGIN CERTIFICATE-----\n").unwrap();
    file
}

#[test]
fn a_bambu_printer_loads_with_the_default_ports_and_a_hidden_access_code() {
    let ca = ca_file();
    let text = bambu(
        "host = \"192.168.1.70\"\nserial = \"01S00C123456789\"\naccess_code = \"94c1e7d3\"\n",
        ca.path(),
    );
    let config = load_text(&text, &[]).expect("valid");
    let DriverConfig::Bambu {
        host,
        mqtt_port,
        ftps_port,
        serial,
        access_code,
        ca_file,
        delete_after_job,
    } = &config.printers[0].driver
    else {
        panic!("{:?}", config.printers[0].driver);
    };
    assert_eq!(host, "192.168.1.70");
    assert_eq!((*mqtt_port, *ftps_port), (8883, 990));
    assert_eq!(serial, "01S00C123456789");
    assert_eq!(access_code.expose(), "94c1e7d3");
    assert_eq!(ca_file, ca.path());
    assert!(!delete_after_job);
    assert!(!format!("{config:?}").contains("94c1e7d3"));
}

#[test]
fn missing_and_bad_bambu_keys_are_one_line_each() {
    let ca = ca_file();
    let text = bambu(
        "host = \"bad host\"\nmqtt_port = 70000\nftps_port = 0\n",
        ca.path(),
    );
    let lines = problems(&text);
    assert_has(&lines, "printers[0].host: invalid host name \"bad host\"");
    assert_has(
        &lines,
        "printers[0].mqtt_port: must be in 1..=65535, not 70000",
    );
    assert_has(&lines, "printers[0].ftps_port: must be in 1..=65535, not 0");
    assert_has(
        &lines,
        "printers[0].serial: missing (required by the \"bambu\" driver)",
    );
    assert_has(
        &lines,
        "printers[0].access_code: missing (required by the \"bambu\" driver)",
    );
    assert_eq!(lines.len(), 5, "{lines:#?}");
}

#[test]
fn serial_is_a_string_for_bambu_and_a_table_for_the_others() {
    let ca = ca_file();
    let text = bambu(
        "host = \"h\"\naccess_code = \"c\"\n[printers.serial]\nmax_in_flight = 2\n",
        ca.path(),
    );
    assert_has(
        &problems(&text),
        "printers[0].serial: expected a string (the printer's serial number), found a table",
    );
    let text = "[gateway]\nid = \"gw\"\n[[printers]]\nid = \"usb\"\ndriver = \"serial\"\n\
                port = \"/dev/ttyACM0\"\nserial = \"01S00C1\"\nbuild_volume = [1, 1, 1]\n";
    assert_has(
        &problems(text),
        "printers[0].serial: expected a table, found a string",
    );
    let text = "[gateway]\nid = \"gw\"\n[[printers]]\nid = \"op\"\ndriver = \"octoprint\"\n\
                url = \"http://h\"\napi_key = \"k\"\nhost = \"h\"\nbuild_volume = [1, 1, 1]\n";
    assert_has(
        &problems(text),
        "printers[0].host: not used by the \"octoprint\" driver",
    );
}
