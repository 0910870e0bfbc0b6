// nn/ layers: see module.h
