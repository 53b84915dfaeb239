//! The `kubectl ws` plugin: kcp's workspace navigation for Trellis.
//!
//! kubectl runs `kubectl-ws` from PATH for `kubectl ws ...`, passing the
//! arguments after `ws`. The commands and their output follow kcp's plugin:
//! `use` (also the bare `kubectl ws <path>`), `current` (also `.`),
//! `create` and `tree`. The current workspace is the server URL
//! `https://host:port/clusters/<path>` of the current kubeconfig context.
//!
//! Trellis has no per-user home workspaces, so `~` (and `kubectl ws` without
//! arguments) means the `root` workspace.

pub mod client;
pub mod create;
pub mod kubeconfig;
pub mod path;
pub mod session;
pub mod switch;
pub mod tree;
pub mod workspace;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use create::CreateArgs;
use session::{Options, Session};
use tree::TreeArgs;

const EXAMPLES: &str = "\
Examples:
  # shows the workspace you are currently using
  kubectl ws .

  # enter a given workspace (this will change the current-context of your current KUBECONFIG)
  kubectl ws use my-workspace

  # short-hand for the use syntax
  kubectl ws my-workspace

  # enter a given absolute workspace
  kubectl ws :root:default:my-workspace

  # short-hand for the current root workspace
  kubectl ws :

  # enter a given relative workspace
  kubectl ws some:nested:workspace

  # enter the parent workspace
  kubectl ws ..

  # enter the grand parent workspace
  kubectl ws ..:..

  # enter the previous workspace
  kubectl ws -

  # go to your home workspace (in Trellis: the root workspace)
  kubectl ws

  # create a workspace and immediately enter it
  kubectl ws create my-workspace --enter

  # print the workspace tree below the current workspace
  kubectl ws tree";

/// Manages KCP workspaces
#[derive(Parser, Debug)]
#[command(
    name = "kubectl ws",
    bin_name = "kubectl ws",
    version,
    override_usage = "kubectl ws [create|use|current|tree|<workspace>|..|.|-|~|<:root:absolute:workspace>]",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Options,
    /// Print only the name of the workspace, e.g. for integration into the
    /// shell prompt.
    #[arg(long)]
    pub short: bool,
    /// The workspace to enter (like `kubectl ws use`).
    #[arg(value_name = "WORKSPACE")]
    pub workspace: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Uses the given workspace as the current workspace. Using - means
    /// previous workspace, .. means parent workspace, . means current, ~ means
    /// home workspace (root in Trellis).
    #[command(
        visible_alias = "cd",
        override_usage = "kubectl ws use <workspace>|..|.|-|~|<:root:absolute:workspace>|<relative:workspace>"
    )]
    Use {
        #[arg(value_name = "WORKSPACE")]
        workspace: Option<String>,
        /// Print only the name of the workspace, e.g. for integration into
        /// the shell prompt.
        #[arg(long)]
        short: bool,
    },
    /// Print the current workspace. Same as 'kubectl ws .'.
    Current {
        /// Print only the name of the workspace, e.g. for integration into
        /// the shell prompt.
        #[arg(long)]
        short: bool,
    },
    /// Creates a new workspace
    #[command(
        override_usage = "kubectl ws create <workspace name> [--type=<type>] [--enter] [--ignore-existing]"
    )]
    Create(CreateArgs),
    /// Print the current workspace tree.
    Tree(TreeArgs),
}

/// Entry point of the `kubectl-ws` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let sess = Session::load(cli.global)?;
    match cli.command {
        None => {
            let target = cli.workspace.unwrap_or_default();
            switch::run_use(&sess, &target, cli.short).await
        }
        Some(Command::Use {
            workspace: Some(target),
            short,
        }) => switch::run_use(&sess, &target, short).await,
        Some(Command::Use {
            workspace: None, ..
        }) => {
            let mut cmd = Cli::command();
            if let Some(sub) = cmd.find_subcommand_mut("use") {
                sub.print_help()?;
            }
            Ok(())
        }
        Some(Command::Current { short }) => switch::run_current(&sess, short),
        Some(Command::Create(args)) => create::run_create(&sess, &args).await,
        Some(Command::Tree(args)) => tree::run_tree(&sess, &args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("kubectl-ws").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn shorthand_paths() {
        for arg in [
            "org",
            "..",
            "-",
            ".",
            "~",
            ":",
            ":root:org",
            "root:org",
            "a:b",
        ] {
            let cli = parse(&[arg]);
            assert_eq!(cli.workspace.as_deref(), Some(arg), "{arg}");
            assert!(cli.command.is_none(), "{arg}");
        }
        assert!(parse(&[]).workspace.is_none());
    }

    #[test]
    fn subcommands_and_global_flags() {
        let cli = parse(&["--kubeconfig", "/k", "use", "-", "--short"]);
        assert_eq!(
            cli.global.kubeconfig.as_deref(),
            Some(std::path::Path::new("/k"))
        );
        assert!(matches!(
            cli.command,
            Some(Command::Use { workspace: Some(ref w), short: true }) if w == "-"
        ));
        let cli = parse(&[
            "create",
            "team",
            "--type",
            "root:universal",
            "--enter",
            "--kubeconfig=/x",
        ]);
        assert_eq!(
            cli.global.kubeconfig.as_deref(),
            Some(std::path::Path::new("/x"))
        );
        match cli.command {
            Some(Command::Create(a)) => {
                assert_eq!(a.name, "team");
                assert_eq!(a.ty.as_deref(), Some("root:universal"));
                assert!(a.enter && !a.ignore_existing);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["tree", "-f"]).command,
            Some(Command::Tree(TreeArgs { full: true }))
        ));
        assert!(matches!(
            parse(&["cd", ".."]).command,
            Some(Command::Use { .. })
        ));
        assert!(matches!(
            parse(&["current"]).command,
            Some(Command::Current { short: false })
        ));
        let cli = parse(&["..", "--context", "c"]);
        assert_eq!(cli.global.context.as_deref(), Some("c"));
        assert_eq!(cli.workspace.as_deref(), Some(".."));
    }
}
