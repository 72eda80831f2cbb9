//! Every documented pipeline that starts with `ebpf-jsonl exec` or `ebpf-jsonl xdp`, in
//! README.md and examples/, runs it with `sudo`: it loads BPF programs, so it needs root
//! (a unit's or a container's command runs as root by its context, and is no pipeline).
//! Commands are the code of the Markdown files (fenced blocks and `inline` spans) and the
//! comments of the other files.

use super::files::{example_files, read, rel, repo};

/// The command texts of a file: its code if Markdown, else its comments.
fn command_texts(name: &str, text: &str) -> Vec<String> {
    if !name.ends_with(".md") {
        let comments = text
            .lines()
            .filter_map(|l| l.split_once('#').map(|(_, c)| c));
        return comments.map(String::from).collect();
    }
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            out.push(line.to_string());
        } else {
            // In a table cell a pipe inside code is written `\|`.
            let spans = line.split('`').skip(1).step_by(2);
            out.extend(spans.map(|s| s.replace("\\|", "|")));
        }
    }
    out
}

/// Each `ebpf-jsonl exec|xdp` that is a stage of a pipeline in `command`, with the word
/// before it (`sudo`, or what is there instead).
fn piped_runs(command: &str) -> Vec<(String, String)> {
    if !command.contains('|') {
        return Vec::new();
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    let runs = words.windows(2).enumerate().filter(|(_, w)| {
        let tool = w[0].rsplit('/').next() == Some("ebpf-jsonl");
        tool && matches!(w[1].trim_end_matches('`'), "exec" | "xdp")
    });
    let before = |i: usize| if i == 0 { "" } else { words[i - 1] };
    runs.map(|(i, w)| (w.join(" "), before(i).to_string()))
        .collect()
}

#[test]
fn documented_pipelines_run_ebpf_jsonl_with_sudo() {
    let mut files = example_files();
    files.push(repo().join("README.md"));
    let mut seen = 0;
    for p in files {
        let (what, text) = (rel(&p), read(&p));
        for command in command_texts(&what, &text) {
            for (run, before) in piped_runs(&command) {
                assert_eq!(
                    before,
                    "sudo",
                    "{what}: `{}`: write `sudo {run}`",
                    command.trim()
                );
                seen += 1;
            }
        }
    }
    // stdin.conf's, examples/README.md's and the jq recipes' live lines.
    assert!(seen >= 5, "only {seen} pipelines found");
}

#[test]
fn pipelines_are_found_where_they_are_written() {
    let md = "| x | `ebpf-jsonl exec \\| fluent-bit -c a.conf` |\n```sh\n$ ebpf-jsonl xdp eth0 | jq .\n```\n";
    let texts = command_texts("a.md", md);
    let runs: Vec<_> = texts.iter().flat_map(|t| piped_runs(t)).collect();
    let before: Vec<&str> = runs.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(before, ["", "$"]);
    let conf = "#   sudo /usr/bin/ebpf-jsonl exec --exits | vector\nName x # ebpf-jsonl exec\n";
    let runs: Vec<_> = command_texts("a.conf", conf)
        .iter()
        .flat_map(|t| piped_runs(t))
        .collect();
    assert_eq!(runs, [("/usr/bin/ebpf-jsonl exec".into(), "sudo".into())]);
    // Not a pipeline, or not the tool: nothing to say.
    assert!(piped_runs("ebpf-jsonl exec --output /x").is_empty());
    assert!(piped_runs("./dev.sh run exec | jq .").is_empty());
}
