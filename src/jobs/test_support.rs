//! What the store's unit tests share: an in-memory database at the latest schema, and a real
//! analysis of a fixture with a thumbnail.

use super::db::Db;
use crate::gcode::FileIntel;

pub fn db() -> Db {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    super::schema::migrate(&mut conn).unwrap();
    Db::new(conn)
}

pub fn intel() -> FileIntel {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcode/thumb.gcode");
    crate::gcode::intel::analyse_file(&path, "PLA", &[]).unwrap()
}
