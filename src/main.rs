//! ebpf-jsonl: eBPF programs in the kernel, newline-delimited JSON on stdout.

use ebpf_jsonl::cli::{self, Cli, Command};
use ebpf_jsonl::error::{self, exit};
use ebpf_jsonl::{check, exec, kernel, output, pipeline, schema, xdp};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    pipeline::install_signal_handlers();
    let res = match &cli.command {
        Command::Exec(a) => {
            kernel::capture_libbpf_log(a.common.verbose);
            exec::run(a)
        }
        Command::Xdp(a) => {
            kernel::capture_libbpf_log(a.common.verbose);
            xdp::run(a)
        }
        Command::Check(a) => {
            kernel::capture_libbpf_log(a.verbose);
            match check::run(a) {
                Ok(true) => Ok(()),
                Ok(false) => return exit::FAILURE,
                Err(e) => Err(e),
            }
        }
        Command::Schema(a) => {
            let v = match &a.kind {
                Some(k) => schema::of(k).expect("clap checked the type"),
                None => schema::all(),
            };
            output::print_json(&v)
        }
        Command::Completions(a) => {
            use clap::CommandFactory;
            let mut text = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "ebpf-jsonl", &mut text);
            output::print_bytes(&text)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut text = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut text)
                .map_err(|e| error::Error::Failure(format!("rendering the man page: {e}")))
                .and_then(|_| output::print_bytes(&text))
        }
    };
    match res {
        Ok(()) => exit::OK,
        Err(e) => {
            output::diag(&format!("error: {e}"));
            e.exit_code()
        }
    }
}
