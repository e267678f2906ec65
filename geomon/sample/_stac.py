"""STAC metadata in the Earth Search v1 ``sentinel-2-l2a`` layout (DESIGN.md section 2).

Items carry what Earth Search items carry and what geomon reads: ``proj:epsg`` and ``proj:code``,
per-asset ``proj:shape``/``proj:transform``, ``eo:bands``, ``raster:bands`` with the -0.1 BOA
offset, the MGRS tile, ``s2:processing_baseline`` and ``earthsearch:boa_offset_applied``. The static
catalog uses relative hrefs; the ItemCollection uses absolute ones (``file://`` URLs or a URL
prefix), as a STAC API must serve them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pystac
import shapely
from pystac.layout import CustomLayoutStrategy

from geomon.sample._spectra import BAND_INFO
from geomon.sample._toa import L1C_BANDS
from geomon.sample._world import Acquisition, World
from geomon.sample._write import BOA_OFFSET, ItemMeta, l1c_id

__all__ = ["COLLECTION_ID", "L1C_COLLECTION_ID", "build_items", "build_l1c_items",
           "write_catalog", "write_item_collection"]

COLLECTION_ID = "sentinel-2-l2a"
L1C_COLLECTION_ID = "sentinel-2-l1c"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
PROCESSING_BASELINE = "05.10"
LICENSE_URL = "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"
STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
]


def _iso(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _geometry(world: World, meta: ItemMeta) -> dict[str, Any]:
    g = world.grid
    if meta.valid_utm is None:
        geom = g.footprint_lonlat()
    else:
        utm = shapely.geometry.shape(meta.valid_utm)
        geom = g.utm_to_lonlat(shapely.segmentize(utm, g.size * 10.0 / 8))
        geom = shapely.geometry.polygon.orient(geom, 1.0) if geom.geom_type == "Polygon" else geom
    return shapely.geometry.mapping(geom)


def _band_asset(world: World, key: str, href: str, size: int) -> pystac.Asset:
    band = next(b for b in BAND_INFO if b.key == key)
    n = world.grid.size * 10 // band.res
    tr = world.grid.transform if band.res == 10 else world.grid.transform20
    return pystac.Asset(
        href=href,
        media_type=COG_TYPE,
        title=f"{band.title} - {band.res}m",
        roles=["data", "reflectance"],
        extra_fields={
            "eo:bands": [{
                "name": band.key,
                "common_name": band.common_name,
                "description": band.title,
                "center_wavelength": band.center,
                "full_width_half_max": band.fwhm,
            }],
            "gsd": band.res,
            "proj:shape": [n, n],
            "proj:transform": [float(v) for v in tr],
            "raster:bands": [{
                "nodata": 0,
                "data_type": "uint16",
                "bits_per_sample": 15,
                "spatial_resolution": band.res,
                "scale": 0.0001,
                "offset": BOA_OFFSET,
            }],
            "file:size": size,
        },
    )


def _scl_asset(world: World, href: str, size: int) -> pystac.Asset:
    n = world.grid.size // 2
    return pystac.Asset(
        href=href,
        media_type=COG_TYPE,
        title="Scene classification map (SCL)",
        roles=["data", "reflectance"],
        extra_fields={
            "proj:shape": [n, n],
            "proj:transform": [float(v) for v in world.grid.transform20],
            "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
            "file:size": size,
        },
    )


def _l1c_asset(world: World, key: str, href: str, size: int) -> pystac.Asset:
    band = next(b for b in L1C_BANDS if b.key == key)
    n = -(-world.grid.size * 10 // band.res)
    g = world.grid
    return pystac.Asset(
        href=href,
        media_type=COG_TYPE,
        title=f"{band.title} - {band.res}m",
        roles=["data", "reflectance"],
        extra_fields={
            "eo:bands": [{"name": band.key, "common_name": band.key, "description": band.title,
                          "center_wavelength": band.center, "full_width_half_max": band.fwhm}],
            "gsd": band.res,
            "proj:shape": [n, n],
            "proj:transform": [float(band.res), 0.0, g.x0, 0.0, -float(band.res), g.y0],
            "raster:bands": [{"nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                              "spatial_resolution": band.res, "scale": 0.0001,
                              "offset": BOA_OFFSET}],
            "file:size": size,
        },
    )


def build_l1c_items(world: World, metas: list[ItemMeta], l2a: list[pystac.Item], root: Path
                    ) -> list[pystac.Item]:
    """The Level-1C twins of ``l2a`` (where written): same tile, platform and datetime."""
    drop = {k for k in l2a[0].properties if k in _L2A_ONLY} if l2a else set()
    items = []
    for meta, twin in zip(metas, l2a, strict=True):
        if meta.l1c_folder is None:
            continue
        props = {k: v for k, v in twin.properties.items() if k not in drop}
        props["s2:product_type"] = "S2MSI1C"
        item = pystac.Item(id=l1c_id(meta.item_id), geometry=twin.geometry, bbox=twin.bbox,
                           datetime=twin.datetime, properties=props,
                           stac_extensions=list(STAC_EXTENSIONS), collection=L1C_COLLECTION_ID)
        for key, name in meta.l1c_files.items():
            item.add_asset(key, _l1c_asset(world, key, str(root / meta.l1c_folder / name),
                                           meta.l1c_sizes[key]))
        item.add_link(pystac.Link("license", LICENSE_URL))
        items.append(item)
    return items


#: L2A-only properties an L1C twin does not carry (Sen2Cor's scene classification shares).
_L2A_ONLY = frozenset({"earthsearch:boa_offset_applied", "s2:dark_features_percentage",
                       "s2:cloud_shadow_percentage", "s2:vegetation_percentage",
                       "s2:not_vegetated_percentage", "s2:water_percentage",
                       "s2:unclassified_percentage", "s2:medium_proba_clouds_percentage",
                       "s2:high_proba_clouds_percentage", "s2:thin_cirrus_percentage",
                       "s2:snow_ice_percentage", "s2:saturated_defective_pixel_percentage"})


def build_items(world: World, metas: list[ItemMeta], root: Path) -> list[pystac.Item]:
    """One pystac Item per acquisition, with absolute local asset hrefs."""
    zone, band, square = world.mgrs
    items = []
    for meta in metas:
        acq: Acquisition = world.acquisitions[meta.index]
        geom = _geometry(world, meta)
        bbox = list(shapely.geometry.shape(geom).bounds)
        processed = _iso(acq.datetime + timedelta(hours=5, minutes=acq.index % 50))
        props: dict[str, Any] = {
            "created": processed,
            "platform": acq.platform,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": meta.cloud_cover,
            "proj:epsg": world.grid.epsg,
            "proj:code": f"EPSG:{world.grid.epsg}",
            "mgrs:utm_zone": zone,
            "mgrs:latitude_band": band,
            "mgrs:grid_square": square,
            "grid:code": f"MGRS-{zone}{band}{square}",
            "view:sun_azimuth": round(acq.sun_azimuth, 6),
            "view:sun_elevation": round(acq.sun_elevation, 6),
            "s2:degraded_msi_data_percentage": 0,
            "s2:nodata_pixel_percentage": meta.nodata_pct,
            **meta.scl_pct,
            "s2:product_type": "S2MSI2A",
            "s2:processing_baseline": PROCESSING_BASELINE,
            "s2:sequence": "0",
            "earthsearch:boa_offset_applied": True,
            "processing:software": {"geomon.sample": "1"},
            "geomon:simulated": True,
            "updated": processed,
        }
        item = pystac.Item(id=acq.item_id, geometry=geom, bbox=bbox, datetime=acq.datetime,
                           properties=props, stac_extensions=list(STAC_EXTENSIONS),
                           collection=COLLECTION_ID)
        folder = root / meta.folder
        for key, name in meta.files.items():
            href = str(folder / name)
            if key == "scl":
                item.add_asset("scl", _scl_asset(world, href, meta.sizes[key]))
            else:
                item.add_asset(key, _band_asset(world, key, href, meta.sizes[key]))
        item.add_link(pystac.Link("license", LICENSE_URL))
        items.append(item)
    return items


def _collection(world: World, items: list[pystac.Item], l1c: bool = False
                ) -> pystac.Collection:
    bbox = list(world.grid.footprint_lonlat().bounds)
    times = [i.datetime for i in items]
    extent = pystac.Extent(pystac.SpatialExtent([bbox]),
                           pystac.TemporalExtent([[min(times), max(times)]]))
    level, what = ("1C", "top-of-atmosphere") if l1c else ("2A", "surface")
    coll = pystac.Collection(
        id=L1C_COLLECTION_ID if l1c else COLLECTION_ID,
        title=f"Sentinel-2 Level-{level} (simulated by geomon)",
        description=(
            f"Simulated Sentinel-2 L{level} {what} reflectance in the Earth Search v1 layout, "
            f"scenario {world.spec.name!r}, seed {world.seed}: {world.spec.description}."
        ),
        extent=extent,
        license="proprietary",
        providers=[pystac.Provider(name="geomon sample simulator", roles=["processor"])],
        summaries=pystac.Summaries({
            "platform": sorted({i.properties["platform"] for i in items}),
            "constellation": ["sentinel-2"],
            "instruments": ["msi"],
        }),
    )
    coll.add_link(pystac.Link("license", LICENSE_URL))
    return coll


def write_catalog(world: World, items: list[pystac.Item], root: Path,
                  l1c_items: list[pystac.Item] | None = None) -> Path:
    """Save a self-contained static catalog: ``catalog.json`` -> collection(s) -> items.

    Item JSON sits next to its COGs (``items/<id>/<id>.json``), like Earth Search's bucket.
    ``l1c_items`` go into a second collection, ``sentinel-2-l1c``.
    """
    catalog = pystac.Catalog(
        id=f"geomon-sample-{world.spec.name}-{world.seed}",
        description=f"geomon simulated scene: {world.spec.description}",
        title=f"geomon sample scene {world.spec.name} (seed {world.seed})",
    )
    coll = _collection(world, items)
    catalog.add_child(coll)
    coll.add_items(items)
    if l1c_items:
        twins = _collection(world, l1c_items, l1c=True)
        catalog.add_child(twins)
        twins.add_items(l1c_items)

    def item_func(item: pystac.Item, parent_dir: str) -> str:
        del parent_dir
        return str(root / "items" / item.id / f"{item.id}.json")

    def coll_func(col: pystac.Collection, parent_dir: str, is_root: bool) -> str:
        del parent_dir, is_root
        return str(root / col.id / "collection.json")

    def cat_func(cat: pystac.Catalog, parent_dir: str, is_root: bool) -> str:
        del cat, parent_dir, is_root
        return str(root / "catalog.json")

    catalog.normalize_hrefs(str(root), strategy=CustomLayoutStrategy(
        catalog_func=cat_func, item_func=item_func, collection_func=coll_func))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


def write_item_collection(items_dir_root: Path, item_ids: list[str], final_root: Path,
                          href_prefix: str | None, dest: Path) -> Path:
    """Write ``item_collection.json``: the catalog's items with absolute asset hrefs.

    Reads the item JSON written by :func:`write_catalog` under ``items_dir_root`` and rewrites
    each asset href as ``href_prefix + items/<id>/<file>`` or as a ``file://`` URL under
    ``final_root`` (where the scene ends up).
    """
    features = []
    for item_id in item_ids:
        path = items_dir_root / "items" / item_id / f"{item_id}.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        for asset in doc["assets"].values():
            rel = f"items/{item_id}/{Path(asset['href']).name}"
            if href_prefix is not None:
                asset["href"] = href_prefix + rel
            else:
                asset["href"] = (final_root / rel).as_uri()
        doc["links"] = [{"rel": "license", "href": LICENSE_URL}]
        features.append(doc)
    fc = {"type": "FeatureCollection", "features": features}
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(json.dumps(fc, indent=1), encoding="utf-8")
    tmp.replace(dest)
    return dest
