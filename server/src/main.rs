use passcom_server::config::Settings;
use passcom_server::operations::staff;
use passcom_server::startup::Application;
use passcom_server::telemetry;

const USAGE: &str = "usage: passcom-server                 serve (configured by the environment)
       passcom-server staff add LOGIN   create a staff account of this airline (or set its
                                        password): PASSCOM_STAFF_PASSWORD, else stdin";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("passcom-server: {e}");
            std::process::exit(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => {}
        ["staff", "add", login] => match staff::add_command(&settings, login).await {
            Ok(done) => {
                println!("{done}");
                return Ok(());
            }
            Err(e) => {
                eprintln!("passcom-server staff add: {e:#}");
                std::process::exit(1);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
    telemetry::init(settings.json_logs);
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(())
}
