"""Built-in models: the MLP AE, DAE, VAE and DVAE of the comparison this tool was built for."""

from registry import ModelSpec, Param, hookimpl

from .mlp import MLPAutoencoder, MLPVAE

MLP_PARAMS = (
    Param("latent_dim", int, 4, low=1, high=4096, help="size of the code"),
    Param("hidden", int, 128, low=1, high=65536, help="width of both hidden layers"),
)


@hookimpl
def bench_models() -> list[ModelSpec]:
    return [
        ModelSpec("ae", MLPAutoencoder, "MLP autoencoder (hidden 128-128, 4-D code), BCE", MLP_PARAMS),
        ModelSpec(
            "dae",
            MLPAutoencoder,
            "MLP denoising autoencoder: noisy input, clean target",
            MLP_PARAMS,
            denoising=True,
        ),
        ModelSpec("vae", MLPVAE, "MLP variational autoencoder, 4-D Gaussian latent, BCE + KL", MLP_PARAMS),
        ModelSpec(
            "dvae",
            MLPVAE,
            "MLP denoising VAE: corrupts the input before the encoder, reconstructs the clean image",
            MLP_PARAMS,
            denoising=True,
        ),
    ]
