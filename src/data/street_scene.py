"""One procedural street scene and its Cityscapes label ids (src/data/synthetic.py writes a data set of them).

Scenes are drawn back to front (sky, buildings, ground, then objects by distance) in perspective, with
textures, shading, shadows and noise. Colours of different classes overlap on purpose (grey sky, grey road,
grey cars, green cars, ...), so a per-pixel colour classifier cannot solve it: shape and context must.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from src.data.labels import LABEL_ID

#: Bump when the drawing changes, so caches written by an older generator are not reused.
GENERATOR_VERSION = 1

ROAD, SIDEWALK, BUILDING, WALL = LABEL_ID["road"], LABEL_ID["sidewalk"], LABEL_ID["building"], LABEL_ID["wall"]
POLE, LIGHT, SIGN = LABEL_ID["pole"], LABEL_ID["traffic light"], LABEL_ID["traffic sign"]
VEGETATION, TERRAIN, SKY = LABEL_ID["vegetation"], LABEL_ID["terrain"], LABEL_ID["sky"]
PERSON, CAR = LABEL_ID["person"], LABEL_ID["car"]

# Body colours shared across classes on purpose: grey/green/blue cars collide with road, trees and sky.
# fmt: off
VEHICLE_COLOURS = np.array([[0.85, 0.85, 0.85], [0.12, 0.12, 0.13], [0.45, 0.46, 0.48], [0.6, 0.1, 0.1],
                            [0.15, 0.25, 0.55], [0.25, 0.4, 0.2], [0.55, 0.55, 0.5], [0.7, 0.6, 0.4]])
FACADE_COLOURS = np.array([[0.55, 0.52, 0.48], [0.7, 0.62, 0.5], [0.55, 0.3, 0.22], [0.75, 0.75, 0.72],
                           [0.4, 0.42, 0.45], [0.62, 0.66, 0.72]])
CLOTHES_COLOURS = np.array([[0.1, 0.1, 0.12], [0.2, 0.25, 0.45], [0.6, 0.15, 0.15], [0.45, 0.45, 0.45],
                            [0.8, 0.8, 0.78], [0.3, 0.45, 0.25], [0.55, 0.4, 0.25]])
# fmt: on
SIGN_COLOURS = np.array([[0.9, 0.8, 0.1], [0.92, 0.92, 0.92], [0.1, 0.3, 0.75], [0.8, 0.1, 0.1]])


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-ish noise varying over about `cells` blobs across the width (bicubic upsampled)."""
    gh, gw = max(2, cells * h // w + 1), max(2, cells + 1)
    return cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


class Street(NamedTuple):
    """The ground plane that objects stand on: where the horizon is and how road and sidewalk widen per row."""

    height: int
    horizon: float
    vanish_x: float
    road_half_per_row: float
    walk_per_row: float

    def depth(self, foot_y: float) -> float:
        """0 at the horizon, 1 at the bottom edge: objects scale with it."""
        return (foot_y - self.horizon) / (self.height - self.horizon)

    def side_x(self, c: Canvas, foot_y: float, road_scale: float, walk_scale: float) -> float:
        """An x beside the road (left or right) at row foot_y, `walk_scale` sidewalk widths out at most."""
        road, walk = self.road_half_per_row * road_scale, self.walk_per_row * walk_scale
        side = 1 if c.rng.random() < 0.5 else -1
        return self.vanish_x + side * (foot_y - self.horizon) * (road + c.rng.uniform(0.1, 0.9) * walk)


class Canvas:
    """An image and its label map painted together, so every painted pixel gets its class."""

    def __init__(self, rng: np.random.Generator, height: int, width: int) -> None:
        self.rng, self.h, self.w = rng, height, width
        self.image = np.zeros((height, width, 3), np.float32)
        self.label = np.zeros((height, width), np.uint8)
        self.yy, self.xx = np.mgrid[0:height, 0:width].astype(np.float32)
        # Shared texture fields: each material reads them with its own amplitude.
        self.grain = rng.standard_normal((height, width)).astype(np.float32)
        self.blotch = smooth_noise(rng, height, width, 24)

    def paint(
        self,
        mask: np.ndarray,
        colour: np.ndarray,
        class_id: int,
        grain: float = 0.03,
        blotch: float = 0.03,
        shade: np.ndarray | float = 0.0,
    ) -> None:
        """Fill `mask` with a textured `colour` and label it `class_id`."""
        tex = (self.grain[mask] * grain + self.blotch[mask] * blotch)[:, None]
        shading = shade[mask][:, None] if isinstance(shade, np.ndarray) else shade
        self.image[mask] = np.asarray(colour, np.float32) * (1.0 + shading) + tex
        self.label[mask] = class_id

    def rect(self, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
        return (self.yy >= y0) & (self.yy < y1) & (self.xx >= x0) & (self.xx < x1)

    def ellipse(self, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
        return ((self.yy - cy) / max(ry, 0.5)) ** 2 + ((self.xx - cx) / max(rx, 0.5)) ** 2 <= 1.0

    def jitter(self, colour: np.ndarray, amount: float = 0.08) -> np.ndarray:
        return np.clip(colour + self.rng.normal(0, amount, 3), 0.02, 0.98)


def draw_street_scene(rng: np.random.Generator, height: int = 128, width: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """One street scene: an (H, W, 3) uint8 image and its (H, W) uint8 Cityscapes label-id map."""
    c = Canvas(rng, height, width)
    h, w = height, width
    horizon = h * rng.uniform(0.36, 0.5)
    vanish_x = w * rng.uniform(0.3, 0.7)
    below = np.clip(c.yy - horizon, 0, None)  # distance below the horizon grows towards the camera

    _draw_sky(c, horizon)
    _draw_buildings(c, horizon)
    ground = c.yy >= horizon
    road_half = below * rng.uniform(1.1, 2.0)
    walk_width = below * rng.uniform(0.45, 0.9)
    dx = c.xx - vanish_x
    road = ground & (np.abs(dx) < road_half)
    walk = ground & ~road & (np.abs(dx) < road_half + walk_width)
    verge = ground & ~road & ~walk
    grass = c.jitter(np.array([0.35, 0.5, 0.22]), 0.06)
    c.paint(verge, grass, TERRAIN, grain=0.06, blotch=0.08)
    _draw_walls(c, horizon, verge)
    walk_colour = c.jitter(np.array([0.55, 0.53, 0.5]), 0.08)
    tiles = (below**0.7 % 4 < 0.6) | (np.abs(dx) / np.maximum(below, 1) * 6 % 1 < 0.08)
    c.paint(walk, walk_colour, SIDEWALK, grain=0.03, blotch=0.03, shade=np.where(tiles, -0.25, 0.0))
    curb = walk & (np.abs(dx) < road_half + np.maximum(walk_width * 0.08, 0.6))
    c.paint(curb, np.clip(walk_colour + 0.15, 0, 1), SIDEWALK, grain=0.02, blotch=0.0)
    road_colour = c.jitter(np.array([0.38, 0.38, 0.4]), 0.07)
    c.paint(road, road_colour, ROAD, grain=0.05, blotch=0.05)
    dash = road & (np.abs(dx) < np.maximum(below * 0.025, 0.5)) & ((np.log1p(below) * 4) % 1 < 0.5)
    c.paint(dash, np.array([0.85, 0.85, 0.8]), ROAD, grain=0.03, blotch=0.0)

    # Objects stand on the ground; drawing them far (small y) to near gives the right occlusion.
    objects = []
    for _ in range(rng.integers(1, 4)):
        objects.append((rng.uniform(horizon + 0.12 * (h - horizon), h + 0.1 * h), _draw_car))
    for _ in range(rng.integers(1, 4)):
        objects.append((rng.uniform(horizon + 0.1 * (h - horizon), h), _draw_tree))
    for _ in range(rng.integers(1, 4)):
        objects.append((rng.uniform(horizon + 0.1 * (h - horizon), h), _draw_pole))
    for _ in range(rng.integers(0, 5)):
        objects.append((rng.uniform(horizon + 0.1 * (h - horizon), h), _draw_person))
    rows = max(h - horizon, 1)
    street = Street(h, horizon, vanish_x, road_half.max() / rows, walk_width.max() / rows)
    for foot_y, draw in sorted(objects, key=lambda o: o[0]):
        draw(c, street, foot_y)

    _light(c, horizon)
    image = np.clip(c.image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return image, c.label


def _draw_sky(c: Canvas, horizon: float) -> None:
    overcast = c.rng.random() < 0.35
    top = c.jitter(np.array([0.62, 0.63, 0.65]) if overcast else np.array([0.3, 0.5, 0.85]), 0.05)
    bottom = c.jitter(np.array([0.78, 0.78, 0.8]) if overcast else np.array([0.7, 0.8, 0.92]), 0.04)
    t = np.clip(c.yy / max(horizon, 1), 0, 1)[..., None]
    sky = c.yy < horizon
    clouds = np.clip(smooth_noise(c.rng, c.h, c.w, 8) * 0.6, 0, 1)[..., None]
    colour = (top * (1 - t) + bottom * t) * (1 - clouds * 0.5) + clouds * 0.5 * 0.95
    c.image[sky] = colour[sky] + c.grain[sky][:, None] * 0.01
    c.label[sky] = SKY


def _draw_buildings(c: Canvas, horizon: float) -> None:
    x = c.rng.uniform(-0.1, 0.05) * c.w
    while x < c.w:
        bw = c.rng.uniform(0.1, 0.3) * c.w
        if c.rng.random() < 0.2:  # a gap: sky (or a tree drawn later) shows through
            x += bw * 0.5
            continue
        top = c.rng.uniform(0.0, 0.75) * horizon
        mask = c.rect(top, horizon + 2, x, x + bw)
        colour = c.jitter(FACADE_COLOURS[c.rng.integers(len(FACADE_COLOURS))], 0.06)
        side_light = ((c.xx - x) / bw - 0.5) * c.rng.uniform(-0.3, 0.3)
        c.paint(mask, colour, BUILDING, grain=0.03, blotch=0.04, shade=side_light)
        # Windows: a grid of dark, slightly blue panes; still building.
        win_h, win_w = c.rng.uniform(3, 7), c.rng.uniform(3, 7)
        pitch_y, pitch_x = win_h * c.rng.uniform(1.6, 2.4), win_w * c.rng.uniform(1.6, 2.6)
        panes = mask & ((c.yy - top - 2) % pitch_y < win_h) & ((c.xx - x - 2) % pitch_x < win_w)
        panes &= c.yy < horizon - 2
        pane = np.array([0.2, 0.24, 0.3]) + c.rng.uniform(0, 0.3)
        c.paint(panes, pane, BUILDING, grain=0.02, blotch=0.06)
        x += bw


def _draw_walls(c: Canvas, horizon: float, verge: np.ndarray) -> None:
    if c.rng.random() < 0.5:
        return
    wall_h = c.rng.uniform(0.05, 0.12) * c.h
    x0 = c.rng.uniform(0, 0.7) * c.w
    mask = c.rect(horizon - wall_h, horizon + wall_h * 0.4, x0, x0 + c.rng.uniform(0.15, 0.4) * c.w)
    mask &= (c.yy < horizon) | verge
    colour = c.jitter(np.array([0.62, 0.6, 0.56]), 0.06)
    bricks = ((c.yy % 3) < 0.7) | (((c.xx + (c.yy // 3) % 2 * 3) % 6) < 0.7)
    c.paint(mask, colour, WALL, grain=0.03, blotch=0.03, shade=np.where(bricks, -0.2, 0.0))


def _draw_car(c: Canvas, street: Street, foot_y: float) -> None:
    depth = street.depth(foot_y)
    size = 0.1 + 0.9 * depth
    car_h, car_w = c.h * 0.3 * size, c.w * 0.22 * size * c.rng.uniform(0.9, 1.3)
    cx = street.vanish_x + (foot_y - street.horizon) * street.road_half_per_row * c.rng.uniform(-0.7, 0.7)
    colour = c.jitter(VEHICLE_COLOURS[c.rng.integers(len(VEHICLE_COLOURS))], 0.04)
    shadow = c.ellipse(foot_y, cx, car_h * 0.08, car_w * 0.6) & (c.label == ROAD)
    c.image[shadow] *= 0.5
    body = c.rect(foot_y - car_h * 0.6, foot_y - car_h * 0.1, cx - car_w / 2, cx + car_w / 2)
    cabin = c.rect(foot_y - car_h, foot_y - car_h * 0.55, cx - car_w * 0.35, cx + car_w * 0.35)
    c.paint(
        body | cabin,
        colour,
        CAR,
        grain=0.02,
        blotch=0.02,
        shade=-0.35 * np.clip((c.yy - (foot_y - car_h)) / max(car_h, 1), 0, 1),
    )
    glass = c.rect(foot_y - car_h * 0.92, foot_y - car_h * 0.62, cx - car_w * 0.31, cx + car_w * 0.31)
    c.paint(glass, np.array([0.15, 0.2, 0.28]) + c.rng.uniform(0, 0.25), CAR, grain=0.02, blotch=0.05)
    for wx in (cx - car_w * 0.3, cx + car_w * 0.3):
        c.paint(c.ellipse(foot_y - car_h * 0.12, wx, car_h * 0.13, car_w * 0.1), np.array([0.07, 0.07, 0.08]), CAR)
    for lx in (cx - car_w * 0.4, cx + car_w * 0.4):
        c.paint(c.ellipse(foot_y - car_h * 0.45, lx, car_h * 0.04, car_w * 0.05), np.array([0.9, 0.7, 0.3]), CAR)


def _draw_tree(c: Canvas, street: Street, foot_y: float) -> None:
    depth = street.depth(foot_y)
    size = 0.15 + 0.85 * depth
    x = street.side_x(c, foot_y, 1.3, 2)
    trunk_h, trunk_w = c.h * 0.35 * size, max(c.w * 0.012 * size, 1.0)
    trunk = c.rect(foot_y - trunk_h, foot_y, x - trunk_w, x + trunk_w)
    c.paint(trunk, c.jitter(np.array([0.3, 0.22, 0.15]), 0.04), VEGETATION, grain=0.03)
    crown = np.zeros_like(trunk)
    radius = c.h * 0.2 * size
    for _ in range(c.rng.integers(3, 7)):
        oy, ox = c.rng.normal(0, radius * 0.4, 2)
        crown |= c.ellipse(
            foot_y - trunk_h - radius * 0.3 + oy,
            x + ox,
            radius * c.rng.uniform(0.6, 1.0),
            radius * c.rng.uniform(0.6, 1.1),
        )
    leaves = c.jitter(np.array([0.22, 0.38, 0.15]), 0.07)
    c.paint(crown, leaves, VEGETATION, grain=0.1, blotch=0.1)


def _draw_pole(c: Canvas, street: Street, foot_y: float) -> None:
    depth = street.depth(foot_y)
    size = 0.15 + 0.85 * depth
    x = street.side_x(c, foot_y, 1.02, 0.3)
    pole_h, pole_w = c.h * 0.6 * size, max(c.w * 0.006 * size, 0.7)
    top = foot_y - pole_h
    pole = c.rect(top, foot_y, x - pole_w, x + pole_w)
    c.paint(pole, c.jitter(np.array([0.4, 0.41, 0.42]), 0.08), POLE, grain=0.02, blotch=0.02)
    if c.rng.random() < 0.35:  # a traffic light: dark box with one lit lamp
        bh, bw = c.h * 0.1 * size, max(c.w * 0.018 * size, 1.0)
        c.paint(c.rect(top, top + bh, x - bw, x + bw), np.array([0.1, 0.1, 0.1]), LIGHT, grain=0.02)
        lamp = np.array([[0.9, 0.15, 0.1], [0.95, 0.75, 0.1], [0.2, 0.9, 0.3]])[c.rng.integers(3)]
        lamp_y = top + bh * c.rng.choice([0.2, 0.5, 0.8])
        c.paint(c.ellipse(lamp_y, x, bh * 0.13, bw * 0.6), lamp, LIGHT, grain=0.02)
    else:  # a sign: a coloured plate, round or rectangular
        sy, sx = c.h * 0.06 * size, c.w * 0.025 * size * c.rng.uniform(0.8, 1.6)
        colour = c.jitter(SIGN_COLOURS[c.rng.integers(len(SIGN_COLOURS))], 0.05)
        plate = c.ellipse(top + sy, x, sy, sx) if c.rng.random() < 0.5 else c.rect(top, top + 2 * sy, x - sx, x + sx)
        c.paint(plate, colour, SIGN, grain=0.02, blotch=0.01)


def _draw_person(c: Canvas, street: Street, foot_y: float) -> None:
    depth = street.depth(foot_y)
    size = 0.15 + 0.85 * depth
    x = street.side_x(c, foot_y, 1.05, 0.9)
    tall = c.h * 0.42 * size * c.rng.uniform(0.85, 1.1)
    half_w = tall * 0.13
    legs = c.rect(foot_y - tall * 0.48, foot_y, x - half_w * 0.8, x + half_w * 0.8)
    legs &= ~c.rect(foot_y - tall * 0.4, foot_y, x - half_w * 0.12, x + half_w * 0.12)  # a gap between legs
    c.paint(legs, c.jitter(CLOTHES_COLOURS[c.rng.integers(len(CLOTHES_COLOURS))], 0.05), PERSON, grain=0.03)
    torso = c.ellipse(foot_y - tall * 0.64, x, tall * 0.2, half_w * 1.1)
    c.paint(torso, c.jitter(CLOTHES_COLOURS[c.rng.integers(len(CLOTHES_COLOURS))], 0.06), PERSON, grain=0.03)
    skin = np.array([[0.85, 0.68, 0.55], [0.6, 0.45, 0.32], [0.4, 0.28, 0.2]])[c.rng.integers(3)]
    c.paint(c.ellipse(foot_y - tall * 0.9, x, tall * 0.09, tall * 0.07), skin, PERSON, grain=0.02)


def _light(c: Canvas, horizon: float) -> None:
    """Global exposure, colour cast, a cast shadow across the ground, vignetting and sensor noise."""
    exposure = c.rng.uniform(0.65, 1.2)
    cast = 1.0 + c.rng.normal(0, 0.05, 3).astype(np.float32)
    angle, offset = c.rng.uniform(-1.5, 1.5), c.rng.uniform(0.2, 0.8) * c.w
    shadow = (c.yy > horizon) & (c.xx - offset < (c.yy - horizon) * angle) & (c.rng.random() < 0.6)
    gain = np.where(shadow, c.rng.uniform(0.45, 0.7), 1.0).astype(np.float32)
    gain *= 1.0 - 0.25 * (((c.xx - c.w / 2) / c.w) ** 2 + ((c.yy - c.h / 2) / c.h) ** 2)
    c.image = c.image * (exposure * gain)[..., None] * cast
    c.image += c.rng.normal(0, 0.025, c.image.shape).astype(np.float32)
