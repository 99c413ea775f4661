//! The command line: `seed-demo` is idempotent and its tokens work; `token` mints what `serve`
//! accepts, because both read the same configuration.

use crate::helpers::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn seed_demo_is_idempotent_and_its_tokens_and_passwords_work() {
    let app = spawn_app().await;
    let first: Value = serde_json::from_str(&app.run_cli(&["seed-demo"])).unwrap();
    let second: Value = serde_json::from_str(&app.run_cli(&["seed-demo"])).unwrap();
    assert_eq!(first["federation"], second["federation"]);
    assert_eq!(first["practices"], second["practices"]);
    assert_eq!(first["users"], second["users"]);
    assert_eq!(first["service_account"], second["service_account"]);
    assert_eq!(first["federation"]["slug"], "north-charnwood");
    assert_eq!(first["federation"]["name"], "North Charnwood Federation");
    let practices = first["practices"].as_array().unwrap();
    assert!(practices.len() >= 3);
    assert!(practices
        .iter()
        .any(|p| p["name"] == "Rosebery Medical Centre"));

    let tokens = first["tokens"].as_object().unwrap();
    for role in [
        "platform_admin",
        "federation_admin",
        "commissioner",
        "practice_admin",
        "clinician",
        "volunteer",
        "provider",
    ] {
        let token = tokens[role].as_str().unwrap();
        let me: Value = app
            .get("/v1/me")
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["roles"][0], role, "the {role} token");
    }
    let platform = tokens["platform_admin"].as_str().unwrap();
    let federations: Value = app
        .get("/v1/federations")
        .bearer_auth(platform)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(federations["items"].as_array().unwrap().len(), 1);

    let password = first["password"].as_str().unwrap();
    for user in first["users"].as_array().unwrap() {
        let response = app.sign_in(user["email"].as_str().unwrap(), password).await;
        assert_eq!(response.status(), 200, "{} signs in", user["email"]);
    }
    let account = &first["service_account"];
    let grant = app
        .post("/v1/auth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", account["client_id"].as_str().unwrap()),
            ("client_secret", account["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 200);
}

#[tokio::test]
async fn minted_tokens_are_accepted_by_the_server() {
    let app = spawn_app().await;
    let seeded: Value = serde_json::from_str(&app.run_cli(&["seed-demo"])).unwrap();
    let rosebery = seeded["practices"][0]["id"].as_str().unwrap();
    let token = app.run_cli(&[
        "token",
        "--role",
        "clinician",
        "--federation",
        "north-charnwood",
        "--practice",
        "c82010",
    ]);
    let response = app
        .get(&format!("/v1/practices/{rosebery}"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let practice: Value = response.json().await.unwrap();
    assert_eq!(practice["name"], "Rosebery Medical Centre");

    let federation_id = seeded["federation"]["id"].as_str().unwrap();
    let admin = app.run_cli(&[
        "token",
        "--role",
        "federation_admin",
        "--federation",
        federation_id,
    ]);
    let listing = app
        .get("/v1/practices")
        .bearer_auth(admin.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 200);
}

#[tokio::test]
async fn the_openapi_subcommand_prints_the_served_document() {
    let app = spawn_app().await;
    let printed: Value = serde_json::from_str(&app.run_cli(&["openapi"])).unwrap();
    let served: Value = app
        .get("/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(printed, served);
}

#[test]
fn keygen_refuses_to_overwrite_unless_told_and_can_keep_an_existing_key() {
    let dir = std::env::temp_dir().join(format!("waymark-keygen-{}", uuid::Uuid::now_v7()));
    let path = dir.join("keys/signing-key.pem");
    let keygen = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_waymark"))
            .arg("keygen")
            .args(extra)
            .arg(&path)
            .output()
            .expect("run waymark keygen")
    };
    assert!(keygen(&[]).status.success());
    let first = std::fs::read_to_string(&path).unwrap();
    assert!(first.contains("BEGIN PRIVATE KEY"));
    assert!(
        !keygen(&[]).status.success(),
        "an existing key is not replaced"
    );
    assert!(keygen(&["--keep-existing"]).status.success());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
    assert!(keygen(&["--force"]).status.success());
    assert_ne!(std::fs::read_to_string(&path).unwrap(), first);
    assert!(!keygen(&["--force", "--keep-existing"]).status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
