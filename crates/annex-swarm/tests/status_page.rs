//! Issue 13: a node's status page (`node run --status 127.0.0.1:0`), rendered by a real browser
//! (Debian's headless Chromium, every request but loopback sent to a dead proxy), and its JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod node_rig;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use node_rig::*;

#[test]
fn the_status_page_shows_the_node_its_store_and_its_peers_in_a_browser() {
    // Three nodes (k = 2, m = 1 needs three stores): n0 with its page, n1 up, n2 never started.
    let rig = Rig::new(3);
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let text = spread_definition(&rig, 3, &ports, 1);
    for i in 0..3 {
        std::fs::write(rig.path(&format!("node{i}.toml")), &text).unwrap();
    }
    let _n1 = start_from(&rig, 1, ports[1]);
    let mut child = bin()
        .arg("--swarm")
        .arg(rig.path("node0.toml"))
        .args(["node", "run", "--status", "127.0.0.1:0", "--key"])
        .arg(rig.path("node0.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(" listening on "), "{first}");
    let second = lines.next().unwrap().unwrap();
    let url = second
        .strip_prefix("status page on ")
        .unwrap_or_else(|| panic!("{second}"))
        .to_owned();
    let n0 = NodeProcess {
        child,
        addr: format!("127.0.0.1:{}", ports[0]),
    };
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    // The JSON, once n0 has tried both peers.
    let started = Instant::now();
    let status: serde_json::Value = loop {
        let v: serde_json::Value = serde_json::from_str(&http_get(&addr, "/status.json")).unwrap();
        if v["peers"][0]["reachable"] == true && v["peers"][1]["reachable"] == false {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "n1 never seen: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status["name"], "n0", "{status}");
    assert_eq!(status["node"], rig.ids[0].as_str());
    assert_eq!(status["address"], n0.addr.as_str());
    assert_eq!(status["definition_version"], 1);
    assert_eq!(status["peers"].as_array().unwrap().len(), 2);
    assert_eq!(status["peers"][0]["name"], "n1");
    assert_eq!(status["peers"][0]["version"], 1);
    assert_eq!(status["peers"][1]["name"], "n2");
    assert!(
        status["peers"][1]["said"].as_str().unwrap().len() > 5,
        "{status}"
    );
    assert_eq!(status["store"]["id"], "n0");
    assert!(status["traffic"]["received"].is_u64(), "{status}");
    assert!(status["traffic"]["sent"].is_u64(), "{status}");

    // The page, as a browser renders it: filled in by its script from the JSON.
    let dom = rendered(&url, &rig.path("chromium-profile"));
    assert!(dom.contains("data-loaded=\"yes\""), "{dom}");
    assert!(dom.contains("node n0"), "{dom}");
    assert!(dom.contains("definition version 1"), "{dom}");
    let row = dom
        .split("<tr")
        .find(|r| r.contains(&format!("data-node=\"{}\"", rig.ids[1])))
        .unwrap_or_else(|| panic!("no row for n1: {dom}"));
    assert!(row.contains("class=\"up\""), "{row}");
    assert!(row.contains("version 1"), "{row}");
    let down = dom
        .split("<tr")
        .find(|r| r.contains(&format!("data-node=\"{}\"", rig.ids[2])))
        .unwrap_or_else(|| panic!("no row for n2: {dom}"));
    assert!(down.contains("class=\"down\""), "{down}");
    // The traffic table, with its speeds (known from the second refresh on).
    // The keys table: none yet (nothing was put).
    assert!(dom.contains("no key held or repaired here"), "{dom}");
    let traffic = dom
        .split("<table id=\"traffic\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_else(|| panic!("no traffic table: {dom}"));
    assert!(traffic.contains("<th>received</th><td>"), "{traffic}");
    assert!(
        traffic.contains("<th>pushed by this node</th>"),
        "{traffic}"
    );
    assert!(traffic.contains("B/s</td>"), "no speed: {traffic}");
    // The static page has none of it: the script did the work.
    let raw = http_get(&addr, "/");
    assert!(!raw.contains("node n0") && !raw.contains(&rig.ids[1]));
}
