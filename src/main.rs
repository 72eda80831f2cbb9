//! ebpf-jsonl: eBPF programs in the kernel, newline-delimited JSON on stdout.

use ebpf_jsonl::cli::{self, Cli, Command};
use ebpf_jsonl::error::{self, exit};
use ebpf_jsonl::{check, diag, exec, kernel, output, pipeline, schema, xdp};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    // Before the parse, so that a usage error comes as `--log-format` asks.
    diag::set_format(cli::log_format_in(std::env::args_os()));
    diag::install_panic_hook();
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            diag::usage_error(&e);
            return exit::USAGE;
        }
        // --help and --version, on stdout.
        Err(e) => {
            let _ = e.print();
            return exit::OK;
        }
    };
    diag::set_format(cli.log_format);
    diag::set_subcommand(cli.command.name());
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
            diag::error(&e.to_string());
            e.exit_code()
        }
    }
}
