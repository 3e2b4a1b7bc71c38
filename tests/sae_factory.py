"""SAEs with known behaviour, written in the shipped layout, for tests."""
import torch
from sae_lens import JumpReLUSAE, JumpReLUSAEConfig
from sae_lens.saes.sae import SAEMetadata


def make_sae(root, model="smollm2-135m-instruct", layer=29, d_in=576, kind="identity", mean=None, hook=None, seed=0,
             d_sae=None):
    """Write an SAE to ``root`` in the shipped layout; return its id.

    ``kind``: ``identity`` (reconstructs exactly), ``mean`` (reconstructs ``mean``), or
    ``jumprelu`` (random, seeded, Gemma-Scope-like: unit-norm decoder rows, encoder the
    decoder's transpose, positive thresholds, so only some latents fire; any ``d_sae``)."""
    d_sae = d_sae or 2 * d_in  # identity needs 2 * d_in
    cfg = JumpReLUSAEConfig(d_in=d_in, d_sae=d_sae, metadata=SAEMetadata(
        hook_name=hook or f"blocks.{layer}.hook_resid_post", model_name=model))
    sae = JumpReLUSAE(cfg)
    eye = torch.eye(d_in)
    with torch.no_grad():
        sae.threshold.zero_()
        sae.b_enc.zero_()
        if kind == "identity":  # relu(x) - relu(-x) = x, exactly
            sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
            sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
            sae.b_dec.zero_()
        elif kind == "jumprelu":
            g = torch.Generator().manual_seed(seed)
            w = torch.randn(d_sae, d_in, generator=g)
            sae.W_dec.copy_(w / w.norm(dim=1, keepdim=True))
            sae.W_enc.copy_(sae.W_dec.T)
            sae.threshold.copy_(torch.rand(d_sae, generator=g) * 0.5)
            sae.b_dec.zero_()
        else:  # reconstructs every activation as the mean
            sae.W_enc.zero_()
            sae.W_dec.zero_()
            sae.b_dec.copy_(mean)
    folder = root / model / f"blocks.{layer}.hook_resid_post" / f"width_{d_sae}"
    sae.save_model(folder)
    return str(folder.relative_to(root))
