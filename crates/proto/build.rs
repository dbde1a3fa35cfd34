//! Compiles `proto/cashflow/v1` with protox (no protoc needed) and keeps the descriptor set
//! for server reflection.
use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it is compiled: a build script reused from a
    // shared target directory must find this checkout's protos, not those of the checkout it was
    // first built in.
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "ledger.proto",
        "query.proto",
        "audit.proto",
        "auth.proto",
        "invoice.proto",
        "notification.proto",
        "report.proto",
    ]
    .map(|f| proto_root.join("cashflow/v1").join(f));
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let descriptors = protox::compile(&files, [&proto_root])?;
    let descriptor_path = PathBuf::from(std::env::var("OUT_DIR")?).join("cashflow_descriptor.bin");
    std::fs::write(&descriptor_path, descriptors.encode_to_vec())?;

    tonic_prost_build::configure()
        .skip_protoc_run()
        .file_descriptor_set_path(&descriptor_path)
        .compile_protos(&files, &[proto_root])?;
    Ok(())
}
