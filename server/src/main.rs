use passcom_server::config::Settings;
use passcom_server::startup::Application;
use passcom_server::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("passcom-server: {e}");
            std::process::exit(2);
        }
    };
    telemetry::init(settings.json_logs);
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(())
}
