//! Every `@tr` string in the UI has a Chinese translation: the kiosk is
//! Chinese by default, so an untranslated label would show English to
//! patients who may read no English at all.

use std::collections::BTreeSet;

fn tr_strings(slint: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = slint;
    while let Some(i) = rest.find("@tr(\"") {
        rest = &rest[i + 5..];
        let mut s = String::new();
        let mut chars = rest.char_indices();
        while let Some((j, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        s.push('\\');
                        s.push(n);
                    }
                }
                '"' => {
                    rest = &rest[j + 1..];
                    break;
                }
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

fn po_ids(po: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut id: Option<String> = None;
    for line in po.lines() {
        if let Some(v) = line.strip_prefix("msgid \"") {
            id = Some(v.trim_end_matches('"').to_string());
        } else if let (Some(v), Some(i)) = (line.strip_prefix("msgstr \""), id.take()) {
            out.insert((i, v.trim_end_matches('"').to_string()));
        }
    }
    out
}

#[test]
fn every_ui_string_has_a_chinese_translation() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut ids = Vec::new();
    for f in ["ui/app.slint", "ui/widgets/widgets.slint", "ui/theme.slint"] {
        let text = std::fs::read_to_string(format!("{root}/{f}")).unwrap();
        ids.extend(tr_strings(&text));
    }
    assert!(ids.len() > 40, "found only {} @tr strings", ids.len());
    let po = std::fs::read_to_string(format!("{root}/ui/translations/zh_CN/LC_MESSAGES/kiosk.po"))
        .unwrap();
    let translated = po_ids(&po);
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !translated.iter().any(|(i, s)| i == *id && !s.is_empty()))
        .collect();
    assert!(
        missing.is_empty(),
        "untranslated @tr strings (add them to kiosk.po): {missing:#?}"
    );
}
