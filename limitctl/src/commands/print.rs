//! `print`: write the sheet as PNG, SVG and PDF.

use anyhow::{Context, Result};

use crate::cli::PrintArgs;
use crate::sheet::{pdf, png, svg, Sheet};

pub fn print(args: &PrintArgs) -> Result<()> {
    let signed = crate::command_file::read(&args.command)?;
    let sheet = Sheet::for_command(&signed)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let png_path = args.out.join("command.png");
    let svg_path = args.out.join("command.svg");
    let pdf_path = args.out.join("command.pdf");
    crate::files::write_atomic(&png_path, &png::render_png(&sheet)?, 0o644)?;
    crate::files::write_atomic(&svg_path, svg::render(&sheet).as_bytes(), 0o644)?;
    crate::files::write_atomic(&pdf_path, &pdf::render(&sheet), 0o644)?;
    println!("{}", sheet.headline);
    for line in sheet.detail_lines() {
        println!("  {line}");
    }
    println!(
        "QR code: version {}-M ({} characters)",
        sheet.qr.version,
        sheet.qr_text.len()
    );
    println!(
        "Wrote {}, {} and {}",
        png_path.display(),
        svg_path.display(),
        pdf_path.display()
    );
    println!("Print at 100 % on A6 (105 x 148 mm), check the printout scans with `limitctl inspect`, then seal it.");
    Ok(())
}
