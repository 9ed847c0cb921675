//! Compiles the Slint UI (ui/app.slint) with the Chinese translation bundled
//! and element debug info kept, so headless tests can find elements by id.

fn main() {
    let config = slint_build::CompilerConfiguration::new()
        .with_bundled_translations("ui/translations")
        .with_default_translation_context(slint_build::DefaultTranslationContext::None)
        .with_debug_info(true)
        .with_style("fluent".into());
    slint_build::compile_with_config("ui/app.slint", config).expect("compiling ui/app.slint");
    println!("cargo:rerun-if-changed=ui");
}
