// multitask/: see gradnorm.h
