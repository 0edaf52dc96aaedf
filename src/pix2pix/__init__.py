"""pix2pix: U-Net generator, PatchGAN discriminator and their GAN training."""
