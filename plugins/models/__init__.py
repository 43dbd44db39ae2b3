"""Built-in models: the MLP AE, DAE, VAE and DVAE of the comparison this tool was built for, their
convolutional versions, a β-VAE, and a linear denoising autoencoder for tabular data."""

from registry import ModelSpec, Param, deferred, hookimpl

# the classes are imported when a model is built (torch with them), not when the registry loads
MLPAutoencoder, MLPVAE = deferred("registry.models:MLPAutoencoder"), deferred("registry.models:MLPVAE")
ConvAutoencoder, ConvVAE = deferred("plugins.models.conv:ConvAutoencoder"), deferred("plugins.models.conv:ConvVAE")
LinearDAE = deferred("plugins.models.linear:LinearDAE")

LATENT = Param("latent_dim", int, 4, low=1, high=4096, help="size of the code")
HIDDEN = Param("hidden", int, 128, low=1, high=65536, help="width of both hidden layers")
MLP_PARAMS = (LATENT, HIDDEN)
CONV_PARAMS = (
    Param("latent_dim", int, 16, low=1, high=4096, help="size of the code"),
    Param("channels", int, 32, low=1, high=1024, help="channels of the first convolution (then 2x, 4x)"),
)
BETA = Param("beta", float, 4.0, low=0.0, high=1000.0, help="weight of the KL term")


@hookimpl
def bench_models() -> list[ModelSpec]:
    image = ("image",)
    ae = {"likelihood": "bernoulli"}  # sigmoid decoder, BCE loss
    vae = {"likelihood": "bernoulli", "capabilities": ("generate", "posterior", "sample")}
    return [
        ModelSpec("ae", MLPAutoencoder, "MLP autoencoder (hidden 128-128, 4-D code), BCE", MLP_PARAMS, **ae),
        ModelSpec("dae", MLPAutoencoder, "MLP denoising autoencoder: noisy input, clean target", MLP_PARAMS,
                  denoising=True, **ae),
        ModelSpec("vae", MLPVAE, "MLP variational autoencoder, 4-D Gaussian latent, BCE + KL", MLP_PARAMS, **vae),
        ModelSpec("dvae", MLPVAE,
                  "MLP denoising VAE: corrupts the input before the encoder, reconstructs the clean image",
                  MLP_PARAMS, denoising=True, **vae),
        ModelSpec("beta_vae", MLPVAE, "MLP beta-VAE: BCE + beta * KL (beta 4 by default)",
                  (*MLP_PARAMS, BETA), **vae),
        ModelSpec("conv_ae", ConvAutoencoder, "convolutional autoencoder: 3 strided convs, 16-D code",
                  CONV_PARAMS, inputs=image, epochs=20, **ae),
        ModelSpec("conv_dae", ConvAutoencoder, "convolutional denoising autoencoder", CONV_PARAMS,
                  denoising=True, inputs=image, epochs=20, **ae),
        ModelSpec("conv_vae", ConvVAE, "convolutional VAE, 16-D Gaussian latent", CONV_PARAMS, inputs=image,
                  epochs=20, **vae),
        ModelSpec("linear_dae", LinearDAE, "linear denoising autoencoder for tabular data: hidden 8, MSE",
                  (Param("hidden", int, 8, low=1, high=65536, help="size of the code"),), denoising=True,
                  inputs=("vector",), epochs=50, likelihood="gaussian"),
    ]
