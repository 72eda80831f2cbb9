//! Every jq recipe, run as its `# run:` line says, prints exactly what is expected on the
//! recorded data.

use std::path::Path;

use serde_json::Value;

use super::files::{file_name, read, run, with_ext};

/// Runs a recipe exactly as its `# run:` line says, from the repository's root.
fn run_recipe(p: &Path) -> Vec<Value> {
    let name = file_name(p);
    let text = read(p);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# run:"))
        .unwrap_or_else(|| panic!("{name}: no `# run: jq ...` comment line"));
    let argv: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(argv[0], "jq", "{name}: the run line must start with jq");
    assert!(
        argv.contains(&format!("examples/jq/{name}").as_str()),
        "{name}: runs another file"
    );
    let out = run("jq", &argv[1..]);
    assert!(
        out.status.success(),
        "{name}: jq failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {l}: {e}")))
        .collect()
}

/// What each recipe prints, line for line (compared as JSON values).
fn expected_output(recipe: &str) -> &'static str {
    match recipe {
        "top-talkers.jq" => {
            r#"
{"src_ip":"198.51.100.23","packets":2780,"bytes":3980591}
{"src_ip":"203.0.113.50","packets":1598,"bytes":2357344}
{"src_ip":"10.0.0.2","packets":36,"bytes":5112}
{"src_ip":"10.0.0.9","packets":10,"bytes":1420}
{"src_ip":"2001:db8::17","packets":10,"bytes":888}
{"src_ip":"10.0.0.53","packets":3,"bytes":426}
{"src_ip":"192.0.2.7","packets":3,"bytes":294}
{"src_ip":"fe80::5054:ff:fe12:3456","packets":1,"bytes":86}
"#
        }
        "execs-per-container.jq" => {
            r#"
{"container":"host","execs":5}
{"container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","execs":4}
{"container":"9e3b7f21c4d85a60b1e2f3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8","execs":3}
"#
        }
        // In the order the processes ended. The python3 worker is still running and the
        // php-fpm worker's exec was never seen, so neither is paired.
        "exec-exit-pairs.jq" => {
            r#"
{"exec_id":"30218-4964791447326","container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","comm":"curl","args":["curl","-fsS","http://localhost:8080/healthz"],"exit_code":0,"signal":null,"duration_ns":24118337}
{"exec_id":"30215-4964789979168","container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","comm":"sh","args":["/bin/sh","-c","curl -fsS http://localhost:8080/healthz || exit 1"],"exit_code":0,"signal":null,"duration_ns":27340882}
{"exec_id":"30240-4965468380027","container":"host","comm":"ls","args":["ls","-la","--color=auto","/etc/ssl/private"],"exit_code":2,"signal":null,"duration_ns":2918664}
{"exec_id":"30232-4965297859029","container":"9e3b7f21c4d85a60b1e2f3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8","comm":"git-remote-http","args":["git-remote-https","origin","https://git.example.com/acme/reports.git"],"exit_code":128,"signal":null,"duration_ns":391004873}
{"exec_id":"30231-4965290659083","container":"9e3b7f21c4d85a60b1e2f3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8","comm":"git","args":["git","clone","--depth","1","https://git.example.com/acme/reports.git","/tmp/job-8812"],"exit_code":128,"signal":null,"duration_ns":402877561}
{"exec_id":"30246-4965792954023","container":"host","comm":"printf","args":["printf","%s|","a b","","café"],"exit_code":0,"signal":null,"duration_ns":1377450}
{"exec_id":"30220-4964822151451","container":"host","comm":"tar","args":["tar","-czf","/var/backups/etc-2026-11-25.tar.gz","/etc"],"exit_code":0,"signal":null,"duration_ns":1289554310}
{"exec_id":"30212-4964713291384","container":"host","comm":"backup.sh","args":["/bin/sh","/usr/local/bin/backup.sh","--quiet"],"exit_code":0,"signal":null,"duration_ns":1405911042}
{"exec_id":"30211-4964711869120","container":"host","comm":"sh","args":["/bin/sh","-c","/usr/local/bin/backup.sh --quiet"],"exit_code":0,"signal":null,"duration_ns":1408227115}
{"exec_id":"30254-4966791430054","container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","comm":"curl","args":["curl","-fsS","http://localhost:8080/healthz"],"exit_code":137,"signal":"SIGKILL","duration_ns":3000118551}
{"exec_id":"30251-4966789965452","container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","comm":"sh","args":["/bin/sh","-c","curl -fsS http://localhost:8080/healthz || exit 1"],"exit_code":1,"signal":null,"duration_ns":3004227906}
"#
        }
        other => {
            panic!("examples/jq/{other}: add its expected output to tests/examples/jq_recipes.rs")
        }
    }
}

#[test]
fn jq_recipes_on_recorded_data() {
    let recipes = with_ext("jq");
    assert_eq!(recipes.len(), 3, "{recipes:?}");
    for p in recipes {
        let name = file_name(&p);
        let expected: Vec<Value> = expected_output(name)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(run_recipe(&p), expected, "{name}");
    }
}
