use super::*;
use crate::scenario::target::Reach;

fn ws_table() -> TemplateTable {
    TemplateTable {
        subscribe: Some("ws://127.0.0.1:8000/connection?channel=room-{room}".into()),
        send: vec![r#"{"subscribe":{"channel":"room-{room}"}}"#.into()],
        publish: Some(PublishTable {
            url: Some("http://127.0.0.1:8000/api/publish".into()),
            body: Some(r#"{"channel":"room-{room}","data":{"text":"{msg}"}}"#.into()),
            headers: [("Content-Type".to_string(), "application/json".to_string())].into(),
            frame: None,
        }),
        heartbeat: Some(HeartbeatTable {
            frame: "{}".into(),
            answer: "{}".into(),
        }),
        cursor: None,
    }
}

fn refused(table: &TemplateTable) -> String {
    template_run("hub", table, Reach::Loopback).unwrap_err()
}

#[test]
fn templates_render_their_placeholders_and_keep_other_braces() {
    let p = Pattern::parse(r#"{"room":{room},"m":"{msg}","x":{}}"#).unwrap();
    assert_eq!(
        p.render(b"~wsb:1~", 7),
        br#"{"room":7,"m":"~wsb:1~","x":{}}"#.to_vec()
    );
    assert!(p.has_msg());
    assert_eq!(Pattern::parse("plain").unwrap().render(b"m", 0), b"plain");
    assert!(
        Pattern::parse("{user}/{msg}")
            .unwrap_err()
            .contains("{user} is not a placeholder")
    );
}

#[test]
fn a_websocket_template_reads_with_its_frames_heartbeat_and_post() {
    let (endpoint, t) = template_run("hub", &ws_table(), Reach::Loopback).unwrap();
    assert_eq!(endpoint.addr, "127.0.0.1:8000".parse().unwrap());
    assert_eq!(t.mode, TemplateMode::Ws);
    assert_eq!(t.subscribe, "/connection?channel=room-{room}");
    assert_eq!(
        t.send[0].render(b"", 3),
        br#"{"subscribe":{"channel":"room-3"}}"#
    );
    assert_eq!(t.heartbeat, Some(("{}".into(), "{}".into())));
    let PublishRule::Post { path, headers, .. } = &t.publish else {
        panic!("a POST rule");
    };
    assert_eq!(path, "/api/publish");
    assert_eq!(
        headers,
        &[("content-type".into(), "application/json".into())]
    );
    // Written back, it reads the same.
    let back = template_table(&t);
    assert_eq!(template_run("hub", &back, Reach::Loopback).unwrap().1, t);
}

#[test]
fn what_cannot_carry_the_envelope_is_refused() {
    let mut t = ws_table();
    t.publish.as_mut().unwrap().body = Some(r#"{"channel":"room-{room}"}"#.into());
    assert!(refused(&t).contains("has no {msg}"));
    t.publish.as_mut().unwrap().body = Some(r#"{"data":{msg}}"#.into());
    assert!(
        refused(&t).contains("not inside a JSON string"),
        "{}",
        refused(&t)
    );
    // Not JSON at all (a form body): the envelope's characters need no escaping.
    t.publish.as_mut().unwrap().body = Some("data={msg}&topic=room-{room}".into());
    assert!(template_run("hub", &t, Reach::Loopback).is_ok());
    t.publish = Some(PublishTable {
        frame: Some(r#"{"publish":{"data":{msg}}}"#.into()),
        ..PublishTable::default()
    });
    assert!(refused(&t).contains("publish frame"));
}

#[test]
fn refuses_what_it_cannot_speak() {
    let mut sse = ws_table();
    sse.subscribe = Some("http://127.0.0.1:8000/events".into());
    assert!(refused(&sse).contains("send: frames after connect need a ws://"));
    sse.send.clear();
    assert!(refused(&sse).contains("heartbeat"));
    sse.heartbeat = None;
    assert!(template_run("hub", &sse, Reach::Loopback).is_ok());
    sse.publish = Some(PublishTable {
        frame: Some("{msg}".into()),
        ..PublishTable::default()
    });
    assert!(refused(&sse).contains("needs a ws:// subscribe URL"));

    let mut t = ws_table();
    t.publish.as_mut().unwrap().url = Some("http://127.0.0.1:9000/api/publish".into());
    assert!(refused(&t).contains("must be on the subscribe URL's server"));
    let mut t = ws_table();
    t.publish.as_mut().unwrap().url = None;
    assert!(refused(&t).contains("needs url"));
    let mut t = ws_table();
    t.publish.as_mut().unwrap().frame = Some("{msg}".into());
    assert!(refused(&t).contains("not both"));
    let mut t = ws_table();
    t.publish
        .as_mut()
        .unwrap()
        .headers
        .insert("content-length".into(), "9".into());
    assert!(refused(&t).contains("set by wsbench"));
    let mut t = ws_table();
    t.subscribe = Some("ws://10.0.0.1:8000/c".into());
    assert!(refused(&t).contains("loopback"));
    let mut t = ws_table();
    t.send = vec!["{msg}".into()];
    assert!(refused(&t).contains("send"));
    assert!(
        template_run("Hub", &ws_table(), Reach::Loopback)
            .unwrap_err()
            .contains("lower-case")
    );
    assert!(
        template_run("longpoll-h2", &ws_table(), Reach::Loopback)
            .unwrap_err()
            .contains("built-in")
    );
    assert!(
        template_run("nchan-sse", &ws_table(), Reach::Loopback)
            .unwrap_err()
            .contains("built-in")
    );

    let mut poll = ws_table();
    poll.subscribe = Some("http://127.0.0.1:8000/poll?c=room-{room}&since={cursor}".into());
    poll.send.clear();
    poll.heartbeat = None;
    assert!(refused(&poll).contains("needs cursor"));
    poll.cursor = Some(CursorTable {
        header: Some("X-Next".into()),
        ..CursorTable::default()
    });
    let (_, t) = template_run("hub", &poll, Reach::Loopback).unwrap();
    assert_eq!(t.mode, TemplateMode::LongPoll);
    assert_eq!(t.subscribe, "/poll?c=room-{room}&since={cursor}");
    assert_eq!(
        t.cursor.as_ref().map(|c| c.from.clone()),
        Some(CursorFrom::Header(&["x-next"]))
    );
    assert_eq!(
        template_run("hub", &template_table(&t), Reach::Loopback)
            .unwrap()
            .1,
        t
    );
    poll.cursor = Some(CursorTable::default());
    assert!(refused(&poll).contains("one of them"));
    let mut t = ws_table();
    t.cursor = Some(CursorTable {
        field: Some("cursor".into()),
        ..CursorTable::default()
    });
    assert!(refused(&t).contains("only a long-poll template"));
}
