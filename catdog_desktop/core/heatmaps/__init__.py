"""Where a model looked: Grad-CAM through the network's gradients (``gradcam``) and "hiding parts"
by occlusion, which needs no gradient (``occlusion``).

Rule: imports ``core.classify`` and below only.
"""
