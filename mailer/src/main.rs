use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    common::cli::run::<mailer::config::MailerConfig>(&args).await
}
